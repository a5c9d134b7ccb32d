package server

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestAuditLinesFromEvents: the audit log writes the domain's events with
// the method and peer the transport added, for calls that audit_full_test
// and TestTrustedDaemon do not cover (login-failure reports, refused
// validations, failed issues).
func TestAuditLinesFromEvents(t *testing.T) {
	f := startAuditOn(t, t.TempDir(), config.AuditAllow)
	ctx := context.Background()
	if _, err := f.client.ReportLoginFailure(ctx, &v1.ReportLoginFailureRequest{Endpoint: "reports", Driver: "pymysql", MysqlErrno: 1045}); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.ReportLoginFailure(ctx, &v1.ReportLoginFailureRequest{Endpoint: "reports", MysqlErrno: 1064})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("errno 1064: %v", err)
	}
	if _, err := f.client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"nope"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("validate nope: %v", err)
	}
	if _, err := f.client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("params nope: %v", err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ Event, Method, Endpoint, DBUser, Outcome, Code, Reason string }
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if e.Peer == "" || e.CallerKind != "none" || e.Time.IsZero() {
			t.Errorf("line without peer, caller kind or time: %s", l)
		}
		got = append(got, line{e.Event, strings.TrimPrefix(e.Method, "/connbroker.v1.BrokerService/"), e.Endpoint, e.DBUser, e.Outcome, e.Code, e.Reason})
	}
	want := []line{
		{AuditLoginFailureReported, "ReportLoginFailure", "reports", "reporter", OutcomeOK, "OK", `mysql_errno 1045 from driver "pymysql"; reread=true changed=false`},
		{AuditLoginFailureReported, "ReportLoginFailure", "reports", "reporter", OutcomeFailed, "InvalidArgument", "mysql_errno: 1064 is not an access-denied error; report 1045 or 1698"},
		{AuditValidation, "ValidateConnection", "nope", "", OutcomeFailed, "NotFound", `endpoint "nope" is not configured`},
		{AuditIssueFailed, "GetConnectionParams", "nope", "", OutcomeFailed, "NotFound", `endpoint "nope" is not configured`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit lines (-want +got):\n%s", diff)
	}
}
