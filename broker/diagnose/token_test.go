package diagnose_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/diagnose"
)

const sampleToken = "orders.proxy-abc123.us-west-2.rds.amazonaws.com:3306/?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-west-2%2Frds-db%2Faws4_request&X-Amz-Date=20260101T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abcdef"

func TestParseToken(t *testing.T) {
	got, err := diagnose.ParseToken(sampleToken)
	if err != nil {
		t.Fatal(err)
	}
	want := diagnose.TokenClaims{Host: "orders.proxy-abc123.us-west-2.rds.amazonaws.com", Port: 3306, User: "app", Region: "us-west-2",
		SignedAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Expires: 900 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "password", "h:0/?Action=connect", "h:1/?Action=other", strings.Replace(sampleToken, "rds-db", "s3", 1),
		strings.Replace(sampleToken, "X-Amz-Date=2026", "X-Amz-Date=x", 1)} {
		if _, err := diagnose.ParseToken(bad); err == nil || strings.Contains(err.Error(), "Signature") {
			t.Errorf("ParseToken(%.20q) = %v, want ErrNotIAMToken", bad, err)
		}
	}
}

// FuzzParseToken: secrets come from config or callers; parsing must never
// panic and never echo the token.
func FuzzParseToken(f *testing.F) {
	f.Add(sampleToken)
	f.Add("h:1/?")
	f.Add("[::1]:3306/?Action=connect&X-Amz-Credential=a/b/c/rds-db/e&X-Amz-Date=20260101T120000Z&X-Amz-Expires=1")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := diagnose.ParseToken(tok)
		if err != nil && len(tok) > 12 && strings.Contains(err.Error(), tok) {
			t.Fatalf("error echoes the token")
		}
		if err == nil && (c.Port <= 0 || c.Port > 65535) {
			t.Fatalf("bad port accepted: %d", c.Port)
		}
	})
}
