package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// mtlsFixture is a broker served with mTLS over a loopback socket.
type mtlsFixture struct {
	addr   string
	ca     *testpki.CA
	audit  *syncBuffer
	logs   *syncBuffer
	secret string // the file password of endpoint "reports"
	svc    *broker.Service
}

const mtlsPolicy = `
policy:
  - caller: spiffe://prod/ns/orders/sa/api
    endpoints: [orders]
  - caller: spiffe://prod/ns/reports/**
    endpoints: ["report*"]
    users: [reporter]
  - caller: batch.jobs.internal
    endpoints: ["*"]
`

// startMTLS serves endpoints orders (IAM) and reports (file password)
// with server TLS, client_ca and the given extra YAML (policy, limits).
func startMTLS(t *testing.T, extra string) mtlsFixture {
	t.Helper()
	return startMTLSWith(t, extra, Extras{})
}

// startMTLSWith is startMTLS with extras (the audit is the fixture's).
func startMTLSWith(t *testing.T, extra string, x Extras) mtlsFixture {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "clients and server CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	caFile := ca.WriteCA(t, dir, "clients")
	pw := filepath.Join(dir, "pw")
	secret := "reports-password-must-not-leak-7f3a"
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("mtls", []byte(fmt.Sprintf(`
tls: {cert: %s, key: %s, client_ca: %s}
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
  reports:
    host: 127.0.0.1
    port: 1
    user: reporter
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
%s`, srv.Cert, srv.Key, caFile, pw, extra)))
	if err != nil {
		t.Fatal(err)
	}
	logs, audit := &syncBuffer{}, &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	issuer := &credential.Router{
		IAM:      credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDAUTHZTEST0000001", "authz-test-aws-secret", ""), credential.WithLogger(log)),
		Password: credential.NewPasswords(nil),
	}
	svc := broker.New(cfg, issuer, log)
	tc, err := tls.LoadX509KeyPair(srv.Cert, srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	x.Audit = NewAuditor(audit, log)
	gs, _ := NewGRPCServerWith(svc, log, x, grpc.Creds(grpccreds.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{tc}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return mtlsFixture{addr: lis.Addr().String(), ca: ca, audit: audit, logs: logs, secret: secret, svc: svc}
}

// client dials the fixture presenting a certificate for leaf, issued by
// issuer (the fixture's CA when nil).
func (f mtlsFixture) client(t *testing.T, leaf *testpki.Leaf, issuer *testpki.CA) v1.BrokerServiceClient {
	t.Helper()
	tc := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if leaf != nil {
		if issuer == nil {
			issuer = f.ca
		}
		tc.Certificates = []tls.Certificate{issuer.TLSCert(t, *leaf)}
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(grpccreds.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return v1.NewBrokerServiceClient(conn)
}

func uriLeaf(u string) *testpki.Leaf { return &testpki.Leaf{CommonName: "ignored", URIs: []string{u}} }
func dnsLeaf(d string) *testpki.Leaf { return &testpki.Leaf{CommonName: "ignored", DNS: []string{d}} }

func TestPolicyOverMTLS(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	ctx := context.Background()
	tests := []struct {
		name     string
		leaf     *testpki.Leaf
		endpoint string
		want     codes.Code
	}{
		{"exact spiffe id", uriLeaf("spiffe://prod/ns/orders/sa/api"), "orders", codes.OK},
		{"exact spiffe id, other endpoint", uriLeaf("spiffe://prod/ns/orders/sa/api"), "reports", codes.PermissionDenied},
		{"glob spiffe id with user", uriLeaf("spiffe://prod/ns/reports/sa/cron"), "reports", codes.OK},
		{"glob spiffe id, endpoint not in rule", uriLeaf("spiffe://prod/ns/reports/sa/cron"), "orders", codes.PermissionDenied},
		{"unknown spiffe id", uriLeaf("spiffe://dev/ns/orders/sa/api"), "orders", codes.PermissionDenied},
		{"dns san", dnsLeaf("batch.jobs.internal"), "orders", codes.OK},
		{"dns san is lower-cased", dnsLeaf("BATCH.jobs.internal"), "reports", codes.OK},
		{"uri san wins over dns san", &testpki.Leaf{URIs: []string{"spiffe://dev/x"}, DNS: []string{"batch.jobs.internal"}}, "orders", codes.PermissionDenied},
		{"common name is not an identity", &testpki.Leaf{CommonName: "batch.jobs.internal"}, "orders", codes.Unauthenticated},
		{"allowed caller, unknown endpoint", dnsLeaf("batch.jobs.internal"), "nope", codes.NotFound},
		{"denied caller, unknown endpoint is not revealed", uriLeaf("spiffe://prod/ns/orders/sa/api"), "nope", codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.client(t, tt.leaf, nil).GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: tt.endpoint, Driver: "pymysql"})
			code, info := errInfo(t, err)
			if code != tt.want {
				t.Fatalf("code = %v (%v), want %v", code, err, tt.want)
			}
			if code == codes.OK && resp.GetParams().GetCredential().GetSecret() == "" {
				t.Error("allowed call returned no secret")
			}
			if code == codes.PermissionDenied {
				if resp != nil {
					t.Errorf("denied call returned a response: %v", resp)
				}
				if info == nil || info.GetReason() != ReasonPermissionDenied || info.GetMetadata()["endpoint"] != tt.endpoint {
					t.Errorf("error info = %v, want reason %s naming endpoint %q", info, ReasonPermissionDenied, tt.endpoint)
				}
				if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", tt.endpoint)) || strings.Contains(msg, "orders.proxy") || strings.Contains(msg, "app_orders") || strings.Contains(msg, "127.0.0.1") {
					t.Errorf("denial message %q must name the endpoint and nothing the caller would have got", msg)
				}
			}
		})
	}
}

func TestMTLSRefusesBadClientCerts(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	other := testpki.NewCA(t, "someone else's CA")
	tests := []struct {
		name   string
		leaf   *testpki.Leaf
		issuer *testpki.CA
	}{
		{"no client certificate", nil, nil},
		{"certificate from another CA", uriLeaf("spiffe://prod/ns/orders/sa/api"), other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client(t, tt.leaf, tt.issuer).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "orders"})
			if code, _ := errInfo(t, err); code != codes.Unavailable {
				t.Fatalf("code = %v (%v), want Unavailable (handshake refused)", code, err)
			}
		})
	}
	// A plaintext client cannot talk to the TLS port at all.
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := v1.NewBrokerServiceClient(conn).ListEndpoints(context.Background(), &v1.ListEndpointsRequest{}); err == nil {
		t.Fatal("plaintext call to an mTLS broker succeeded")
	}
}

func TestPolicyFiltersListAndValidate(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	ctx := context.Background()
	cl := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil)
	list, err := cl.ListEndpoints(ctx, &v1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list.GetEndpoints() {
		names = append(names, e.GetName())
	}
	if diff := cmp.Diff([]string{"orders"}, names); diff != "" {
		t.Errorf("ListEndpoints (-want +got):\n%s", diff)
	}
	_, err = cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"reports"}})
	if code, info := errInfo(t, err); code != codes.PermissionDenied || info.GetMetadata()["endpoint"] != "reports" {
		t.Errorf("validate of a denied endpoint: %v", err)
	}
	// With all=true only the endpoints the caller may get are validated.
	cron := f.client(t, uriLeaf("spiffe://prod/ns/reports/sa/cron"), nil)
	res, err := cron.ValidateConnection(ctx, &v1.ValidateConnectionRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResults()) != 1 || res.GetResults()[0].GetEndpoint() != "reports" {
		t.Errorf("validate all = %v, want only reports", res.GetResults())
	}
}

func TestDefaultDenyWithoutPolicy(t *testing.T) {
	f := startMTLS(t, "")
	_, err := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "orders"})
	if code, _ := errInfo(t, err); code != codes.PermissionDenied {
		t.Fatalf("code = %v, want PermissionDenied: mTLS without a policy must deny", code)
	}
}

// TestValidateAllSeesNothing: a caller the policy allows nothing cannot
// pass a deploy gate with "validate all" by seeing no endpoint.
func TestValidateAllSeesNothing(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	_, err := f.client(t, uriLeaf("spiffe://dev/nobody"), nil).ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{All: true})
	if code, info := errInfo(t, err); code != codes.PermissionDenied || info.GetMetadata()["endpoint"] != "*" {
		t.Fatalf("validate all with no visible endpoint: %v, want PermissionDenied for \"*\"", err)
	}
}

// TestProbeIsAuthorised: probing an endpoint (which reveals its server and
// host facts) needs the same permission as getting its params.
func TestProbeIsAuthorised(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	_, err := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil).ProbeEndpoint(context.Background(), &v1.ProbeEndpointRequest{Endpoint: "reports"})
	if code, info := errInfo(t, err); code != codes.PermissionDenied || info.GetMetadata()["endpoint"] != "reports" {
		t.Fatalf("probe of a denied endpoint: %v, want PermissionDenied", err)
	}
}
