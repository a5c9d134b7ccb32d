package broker

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
)

// TestWatchPollAllocatesNothing pins what keeps 5,000 watch streams flat
// (BENCHMARKS.md): a poll that finds the credential unchanged (a cached IAM
// token, a password file read moments ago) fills a reused Params and
// allocates nothing.
func TestWatchPollAllocatesNothing(t *testing.T) {
	cfg, err := config.Parse("test", []byte("endpoints:\n  orders:\n    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com\n    user: app_orders\n    auth: iam\n"))
	if err != nil {
		t.Fatal(err)
	}
	iam := credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDWATCHPOLLTEST001", "s", ""))
	s := New(cfg, &credential.Router{IAM: iam}, nil)
	ctx := context.Background()
	var p Params
	if err := s.paramsInto(ctx, "orders", "pymysql", &p); err != nil { // signs and caches the token
		t.Fatal(err)
	}
	first := p.Credential.Secret.Reveal()
	allocs := testing.AllocsPerRun(200, func() {
		if err := s.paramsInto(ctx, "orders", "pymysql", &p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a poll made %.0f allocations, want 0", allocs)
	}
	if p.Credential.Secret.Reveal() != first || p.Hints == nil || p.Endpoint != "orders" {
		t.Errorf("the reused params are not the endpoint's: %q, hints %v", p.Endpoint, p.Hints != nil)
	}
}
