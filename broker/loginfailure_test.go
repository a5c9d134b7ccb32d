package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
)

// rotatingSecret is a Secrets Manager seam whose AWSCURRENT value the test
// changes, counting reads.
type rotatingSecret struct {
	mu    sync.Mutex
	value string
	reads int
}

func (r *rotatingSecret) GetSecretValue(_ context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"password":"` + r.value + `"}`), VersionId: aws.String(r.value)}, nil
}

func (r *rotatingSecret) set(v string) { r.mu.Lock(); r.value = v; r.mu.Unlock() }

func TestReportLoginFailureRereadsTheSource(t *testing.T) {
	cfg, err := config.Parse("report", []byte(`endpoints:
  sm:
    host: 127.0.0.1
    port: 3306
    user: app
    auth: password
    password: {secretsmanager: arn:aws:secretsmanager:us-east-1:123456789012:secret:db, secret_ttl: 1h}
    tls: {mode: disabled}
  tok:
    host: db.example.internal
    port: 3306
    user: app
    auth: iam
    region: us-east-1
`))
	if err != nil {
		t.Fatal(err)
	}
	sm := &rotatingSecret{value: "old-pass"}
	s := New(cfg, &credential.Router{Secrets: credential.NewSecrets(sm)}, nil)
	ctx := context.Background()
	secret := func() string {
		t.Helper()
		p, err := s.Params(ctx, "sm", "")
		if err != nil {
			t.Fatal(err)
		}
		return p.Credential.Secret.Reveal()
	}
	if got := secret(); got != "old-pass" {
		t.Fatalf("first secret %q", got)
	}
	sm.set("new-pass") // the rotation changed the database and moved AWSCURRENT
	if got := secret(); got != "old-pass" {
		t.Fatalf("cached for secret_ttl: got %q", got)
	}
	r, err := s.ReportLoginFailure(ctx, "sm", "pymysql", 1045)
	if err != nil || !r.Reread || !r.Changed || r.DBUser != "app" {
		t.Fatalf("report: %+v, %v; want a re-read that found a change", r, err)
	}
	if got := secret(); got != "new-pass" {
		t.Fatalf("after the report: got %q, want the new secret", got)
	}
	// A second report within ReportInterval does not read the source again.
	reads := sm.reads
	r, err = s.ReportLoginFailure(ctx, "sm", "pymysql", 1698)
	if err != nil || r.Reread || sm.reads != reads {
		t.Fatalf("second report: %+v, %v, reads %d -> %d; want no re-read", r, err, reads, sm.reads)
	}
	s.reports.mu.Lock()
	s.reports.last["sm"] = time.Now().Add(-ReportInterval)
	s.reports.mu.Unlock()
	if r, err = s.ReportLoginFailure(ctx, "sm", "", 1045); err != nil || !r.Reread || r.Changed {
		t.Fatalf("report after the interval: %+v, %v; want a re-read without change", r, err)
	}

	for _, tc := range []struct {
		endpoint string
		errno    uint32
		want     error
	}{
		{"sm", 2003, ErrInvalidArgument},
		{"nope", 1045, ErrNotFound},
	} {
		if _, err := s.ReportLoginFailure(ctx, tc.endpoint, "", tc.errno); !errors.Is(err, tc.want) {
			t.Errorf("ReportLoginFailure(%q, %d) = %v, want %v", tc.endpoint, tc.errno, err, tc.want)
		}
	}
	if r, err := s.ReportLoginFailure(ctx, "tok", "", 1045); err != nil || r.Reread {
		t.Errorf("IAM endpoint: %+v, %v; want no re-read", r, err)
	}
	if _, err := s.ReportLoginFailure(ctx, "sm", "", 2003); err == nil || !strings.Contains(err.Error(), "mysql_errno") {
		t.Errorf("bad errno error %v does not name the field", err)
	}
}

// TestReportLoginFailureNeedsTheEndpoint: with identities in use, a caller
// may report only endpoints the policy gives it.
func TestReportLoginFailureNeedsTheEndpoint(t *testing.T) {
	cfg, err := config.Parse("report-authz", []byte(`unix: {path: /run/connbroker-test/broker.sock}
endpoints:
  sm:
    host: 127.0.0.1
    port: 3306
    user: app
    auth: password
    password: {secretsmanager: arn:aws:secretsmanager:us-east-1:123456789012:secret:db}
    tls: {mode: disabled}
policy:
  - caller: uid:1001
    endpoints: [sm]
`))
	if err != nil {
		t.Fatal(err)
	}
	sm := &rotatingSecret{value: "pw"}
	s := New(cfg, &credential.Router{Secrets: credential.NewSecrets(sm)}, nil)
	other := caller.NewContext(context.Background(), caller.FromUID(1002))
	if _, err := s.ReportLoginFailure(other, "sm", "", 1045); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("another caller: err = %v, want ErrPermissionDenied", err)
	}
	if sm.reads != 0 {
		t.Errorf("a refused report read the source %d times", sm.reads)
	}
	if r, err := s.ReportLoginFailure(caller.NewContext(context.Background(), caller.FromUID(1001)), "sm", "", 1045); err != nil || !r.Reread {
		t.Errorf("allowed caller: %+v, %v", r, err)
	}
}
