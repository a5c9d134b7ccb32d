package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// oraclePolicy is finding L2's setup: a rule for every endpoint name,
// restricted by users, next to a caller that may get every endpoint.
const oraclePolicy = `
policy:
  - caller: spiffe://prod/ns/reports/**
    endpoints: ["*"]
    users: [reporter]
  - caller: batch.jobs.internal
    endpoints: ["*"]
  - caller: uid:0
    endpoints: ["*"]
`

// TestCannotEnumerateEndpointNames (L2): a caller whose only rule is
// restricted by users gets the same answer, PERMISSION_DENIED with the same
// reason, for an endpoint that exists (with another user) and one that
// does not, on every RPC that takes a name; only a caller a rule grants
// the name whatever the user hears NOT_FOUND.
func TestCannotEnumerateEndpointNames(t *testing.T) {
	f := startMTLS(t, oraclePolicy)
	cl := f.client(t, uriLeaf("spiffe://prod/ns/reports/sa/cron"), nil)
	answer := func(name string) map[string]string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out := map[string]string{}
		record := func(rpc string, err error) {
			code, info := errInfo(t, err)
			out[rpc] = code.String() + " " + info.GetReason() + " " + strings.ReplaceAll(err.Error(), name, "NAME")
		}
		_, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: name})
		record("GetConnectionParams", err)
		_, err = cl.ProbeEndpoint(ctx, &v1.ProbeEndpointRequest{Endpoint: name})
		record("ProbeEndpoint", err)
		_, err = cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{name}})
		record("ValidateConnection", err)
		w, err := cl.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: name})
		if err == nil {
			_, err = w.Recv()
		}
		record("WatchConnectionParams", err)
		return out
	}
	exists, unknown := answer("orders"), answer("no-such-endpoint")
	for rpc, got := range exists {
		if !strings.HasPrefix(got, codes.PermissionDenied.String()+" "+ReasonPermissionDenied) {
			t.Errorf("%s on an existing, denied endpoint: %s", rpc, got)
		}
		if unknown[rpc] != got {
			t.Errorf("%s answers an existing and an unknown endpoint differently:\n  exists:  %s\n  unknown: %s", rpc, got, unknown[rpc])
		}
	}
	// The caller still gets what its rule allows.
	if _, err := cl.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"}); err != nil {
		t.Errorf("allowed endpoint: %v", err)
	}
	// A caller allowed every name whatever the user may tell them apart.
	_, err := f.client(t, dnsLeaf("batch.jobs.internal"), nil).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "no-such-endpoint"})
	if code, info := errInfo(t, err); code != codes.NotFound || info.GetReason() != ReasonEndpointNotFound {
		t.Errorf("caller that may list, unknown endpoint: %v, want NotFound", err)
	}
}

// TestIdentityKindsOverMTLS (L1): a certificate whose URI SAN reads
// "uid:0" is a URI identity and does not match the Unix rule uid:0; a
// SPIFFE ID that climbs out of its prefix, or an over-long first URI SAN,
// is refused (UNAUTHENTICATED), never matched or skipped for a later SAN.
func TestIdentityKindsOverMTLS(t *testing.T) {
	f := startMTLS(t, oraclePolicy)
	for _, tt := range []struct {
		name string
		leaf *testpki.Leaf
		want codes.Code
	}{
		{"uri SAN uid:0 is not the unix uid 0", uriLeaf("uid:0"), codes.PermissionDenied},
		{"dns SAN uid:0 is refused", dnsLeaf("uid:0"), codes.Unauthenticated},
		{"spiffe dot-dot", uriLeaf("spiffe://prod/ns/reports/../orders/sa/api"), codes.Unauthenticated},
		{"spiffe empty segment", uriLeaf("spiffe://prod/ns/reports//sa"), codes.Unauthenticated},
		{"over-long first URI SAN, good second", &testpki.Leaf{URIs: []string{"spiffe://prod/ns/reports/" + strings.Repeat("a", 600), "spiffe://prod/ns/reports/sa/cron"}}, codes.Unauthenticated},
		{"over-long URI SAN, good DNS SAN", &testpki.Leaf{URIs: []string{"spiffe://prod/ns/reports/" + strings.Repeat("a", 600)}, DNS: []string{"batch.jobs.internal"}}, codes.Unauthenticated},
		{"upper-case trust domain is canonicalised", uriLeaf("spiffe://PROD/ns/reports/sa/cron"), codes.OK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client(t, tt.leaf, nil).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"})
			if code, _ := errInfo(t, err); code != tt.want {
				t.Errorf("code %v (%v), want %v", code, err, tt.want)
			}
		})
	}
}
