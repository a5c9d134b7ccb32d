package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/preflight"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestPreflightIsAuthorised: a caller may preflight only the endpoints it
// may validate (the policy is checked before anything else), a bad change
// is INVALID_ARGUMENT, no inventory is FAILED_PRECONDITION, and an endpoint
// no app asked for is "no apps seen", never an all-clear.
func TestPreflightIsAuthorised(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	ctx := context.Background()
	cl := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil)
	req := func(ep string, changes ...string) *v1.PreflightRequest {
		r := &v1.PreflightRequest{Endpoint: ep}
		for _, c := range changes {
			r.Changes = append(r.Changes, &v1.PreflightChange{Spec: c})
		}
		return r
	}
	_, err := cl.Preflight(ctx, req("reports", "require-tls"))
	if code, info := errInfo(t, err); code != codes.PermissionDenied || info.GetMetadata()["endpoint"] != "reports" {
		t.Errorf("preflight of a denied endpoint: %v, want PermissionDenied", err)
	}
	_, err = cl.Preflight(ctx, req("orders", "require-tls"))
	if code, info := errInfo(t, err); code != codes.FailedPrecondition || info.GetReason() != ReasonInventoryOff {
		t.Errorf("preflight without an inventory: %v, want FailedPrecondition %s", err, ReasonInventoryOff)
	}
	f.svc.SetInventory(preflight.Static{List: map[string][]preflight.App{"reports": {{Caller: "spiffe://prod/ns/reports/sa/cron",
		Env: diagnose.ClientEnvironment{Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}}}}}}})
	_, err = cl.Preflight(ctx, req("orders", "tls=on"))
	if code, info := errInfo(t, err); code != codes.InvalidArgument || info.GetMetadata()["field"] != "changes" {
		t.Errorf("preflight with a bad change: %v, want InvalidArgument on changes", err)
	}
	_, err = cl.Preflight(ctx, req("orders", "ca=new.pem"))
	if code, _ := errInfo(t, err); code != codes.InvalidArgument {
		t.Errorf("ca= without ca_pem: %v, want InvalidArgument", err)
	}
	resp, err := cl.Preflight(ctx, req("orders", "auth=iam"))
	if err != nil || resp.GetStatus() != v1.PreflightStatus_PREFLIGHT_STATUS_NO_APPS_SEEN || resp.GetAnyBreaks() || len(resp.GetGroups()) != 0 {
		t.Errorf("preflight of an endpoint no app asked for: %v, %v; want NO_APPS_SEEN", resp, err)
	}
	// The reports caller sees its own endpoint's apps.
	resp, err = f.client(t, uriLeaf("spiffe://prod/ns/reports/sa/cron"), nil).Preflight(ctx, req("reports", "require-tls"))
	if err != nil || resp.GetStatus() != v1.PreflightStatus_PREFLIGHT_STATUS_OK || !resp.GetAnyBreaks() ||
		resp.GetGroups()[0].GetApps()[0].GetFinding().GetCode() != diagnose.CodeServerRequiresTLS {
		t.Errorf("preflight of reports: %v, %v; want OK, any_breaks, server-requires-tls", resp, err)
	}
	// Every call is in the audit trail: the refusal as denied, a preflight
	// with what it found.
	audit := f.audit.String()
	for _, want := range []string{`"event":"denied","caller":"spiffe://prod/ns/orders/sa/api"`,
		`"method":"/connbroker.v1.BrokerService/Preflight","endpoint":"reports","db_user":"reporter","outcome":"denied"`,
		`"endpoint":"orders","outcome":"failed","code":"FailedPrecondition","reason":"inventory is off"`,
		`"reason":"changes auth=iam: status no-apps-seen, 0 apps, any_breaks=false"`,
		`"event":"preflight","caller":"spiffe://prod/ns/reports/sa/cron"`, `"reason":"changes require-tls: status ok, 1 apps, any_breaks=true"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
}
