package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

const staleWarning = "the credential source is failing"

// TestParamsCache checks that cached hints/resolution messages are shared
// between calls, are rebuilt after a config change, and that a stale
// credential's warning never leaks into the shared view.
func TestParamsCache(t *testing.T) {
	var failing atomic.Bool
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	build := func(ctx context.Context, endpoint, region, user string, creds aws.CredentialsProvider, opts ...func(*auth.BuildAuthTokenOptions)) (string, error) {
		if failing.Load() {
			return "", errors.New("sts is down")
		}
		return fmt.Sprintf("%s/?X-Amz-Date=%s&X-Amz-Signature=x", endpoint, clock().UTC().Format("20060102T150405Z")), nil
	}
	parse := func(user string) *config.Config {
		c, err := config.Parse("test", []byte("endpoints:\n  orders:\n    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com\n    user: "+user+"\n    auth: iam\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	iam := credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDCACHETEST0000001", "s", ""), credential.WithClock(clock), credential.WithTokenBuilder(build))
	svc := broker.New(parse("app_a"), &credential.Router{IAM: iam}, nil)
	s := New(svc)
	ctx := context.Background()
	get := func() *v1.ConnectionParams {
		t.Helper()
		r, err := s.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetParams()
	}
	uncached := func() *v1.ConnectionParams {
		t.Helper()
		p, err := svc.Params(ctx, "orders", "pymysql")
		if err != nil {
			t.Fatal(err)
		}
		out, err := paramsToProto(p)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	a, b := get(), get()
	if a.GetHints() != b.GetHints() || a.GetResolution() != b.GetResolution() {
		t.Error("second call rebuilt hints/resolution instead of sharing them")
	}
	if diff := cmp.Diff(uncached(), b, protocmp.Transform()); diff != "" {
		t.Errorf("cached response differs from a fresh conversion (-fresh +cached):\n%s", diff)
	}

	svc.SetConfig(parse("app_b"))
	c := get()
	if c.GetUser() != "app_b" || c.GetHints() == a.GetHints() {
		t.Errorf("after SetConfig: user %q, hints shared with the old config: %v", c.GetUser(), c.GetHints() == a.GetHints())
	}
	if diff := cmp.Diff(uncached(), c, protocmp.Transform()); diff != "" {
		t.Errorf("after SetConfig (-fresh +cached):\n%s", diff)
	}

	// Past refresh_after with signing down: the still-valid token is served
	// stale, with a warning that must not stick to the shared view.
	now.Add(int64(11 * time.Minute))
	failing.Store(true)
	st := get()
	if !strings.Contains(strings.Join(st.GetHints().GetWarnings(), "\n"), staleWarning) {
		t.Errorf("stale response lacks the warning: %v", st.GetHints().GetWarnings())
	}
	failing.Store(false)
	fresh := get()
	if strings.Contains(strings.Join(fresh.GetHints().GetWarnings(), "\n"), staleWarning) {
		t.Errorf("the stale warning leaked into later responses: %v", fresh.GetHints().GetWarnings())
	}
	if fresh.GetHints() != c.GetHints() {
		t.Error("fresh response after the stale one does not use the shared view")
	}
}
