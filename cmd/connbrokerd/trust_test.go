package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
)

const (
	trustAWSSecretKey = "trust-test-aws-secret-access-key-91c2"
	wrongPassword     = "wrong-password-also-secret-5d0e"
	appCaller         = "spiffe://prod/ns/app/sa/api"
	floodCaller       = "spiffe://prod/ns/flood/sa/api"
	strangerCaller    = "spiffe://prod/ns/stranger/sa/api"
)

// trustDaemon is connbrokerd run for real (in process) with mTLS, a policy
// and an audit file, in front of a real MariaDB.
type trustDaemon struct {
	addr, auditFile string
	ca              *testpki.CA
	stop            func() (code int, stdout, stderr string)
}

func startTrustDaemon(t *testing.T) trustDaemon {
	t.Helper()
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	ca := testpki.NewCA(t, "trust test CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	caFile := ca.WriteCA(t, dir, "clients")
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte(mariadbtest.NativePassword), 0o600)
	os.WriteFile(bad, []byte(wrongPassword), 0o600)
	auditFile := filepath.Join(dir, "audit.jsonl")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`
listen: %[1]s
tls: {cert: %[2]s, key: %[3]s, client_ca: %[4]s}
audit: {output: %[5]s}
limits: {issue_rate: 0.01, issue_burst: 5}
log: {level: debug, format: json}
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
  db:
    host: 127.0.0.1
    port: %[6]d
    user: %[7]s
    auth: password
    password: {file: %[8]s}
    tls: {mode: verify-identity, ca: %[10]s}
  broken:
    host: 127.0.0.1
    port: %[6]d
    user: %[7]s
    auth: password
    password: {file: %[9]s}
    tls: {mode: verify-identity, ca: %[10]s}
policy:
  - caller: spiffe://prod/ns/app/**
    endpoints: ["*"]
  - caller: %[11]s
    endpoints: [orders]
`, addr, srv.Cert, srv.Key, caFile, auditFile, db.Port, mariadbtest.NativeUser, good, bad, db.CAFile, floodCaller))
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDTRUSTTEST0000001", "AWS_SECRET_ACCESS_KEY": trustAWSSecretKey, "AWS_REGION": "us-west-2",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := daemon(ctx, "--config", cfg)
		done <- result{code, out, errOut}
	}()
	d := trustDaemon{addr: addr, auditFile: auditFile, ca: ca}
	var stopped *result
	d.stop = func() (int, string, string) {
		if stopped == nil {
			cancel()
			select {
			case r := <-done:
				stopped = &r
			case <-time.After(20 * time.Second):
				t.Fatal("daemon did not stop within 20s")
			}
		}
		return stopped.code, stopped.out, stopped.err
	}
	t.Cleanup(func() { d.stop() })
	hc := healthpb.NewHealthClient(d.conn(t, appCaller))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return d
		}
		if time.Now().After(deadline) {
			select {
			case r := <-done:
				t.Fatalf("daemon exited %d: %s", r.code, r.err)
			default:
			}
			t.Fatalf("daemon not serving: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d trustDaemon) conn(t *testing.T, spiffeID string) *grpc.ClientConn {
	t.Helper()
	tc := &tls.Config{
		RootCAs: d.ca.Pool(), MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{d.ca.TLSCert(t, testpki.Leaf{CommonName: "client", URIs: []string{spiffeID}})},
	}
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// auditLine is the part of an audit event the test compares.
type auditLine struct {
	Event, Caller, Endpoint, DBUser, CredentialKind, Outcome, Code string
	HasExpiry, HasPeer, HasTime                                    bool
}

func readAudit(t *testing.T, path string) ([]auditLine, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read audit file: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, want 0600", fi.Mode().Perm())
	}
	var out []auditLine
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var e server.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, auditLine{
			Event: e.Event, Caller: e.Caller, Endpoint: e.Endpoint, DBUser: e.DBUser, CredentialKind: e.CredentialKind,
			Outcome: e.Outcome, Code: e.Code, HasExpiry: e.ExpiresAt != nil, HasPeer: strings.HasPrefix(e.Peer, "127.0.0.1:"), HasTime: !e.Time.IsZero(),
		})
	}
	return out, raw
}

// sortValidations orders each run of consecutive validation lines by
// endpoint.
func sortValidations(lines []auditLine) {
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && lines[j].Event == "validation" {
			j++
		}
		if j > i {
			sort.SliceStable(lines[i:j], func(a, b int) bool { return lines[i+a].Endpoint < lines[i+b].Endpoint })
			i = j
			continue
		}
		i++
	}
}

// TestTrustedDaemon runs the real daemon with mTLS, a policy, a rate limit
// and an audit file: it issues credentials, validates, is denied and rate
// limited, then checks the audit trail and searches every byte the daemon
// wrote (logs, audit) for every secret involved.
func TestTrustedDaemon(t *testing.T) {
	d := startTrustDaemon(t)
	ctx := context.Background()
	app := v1.NewBrokerServiceClient(d.conn(t, appCaller))
	var secrets []string

	iam, err := app.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, iam.GetParams().GetCredential().GetSecret())
	pw, err := app.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "db", Driver: "go-sql-driver"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pw.GetParams().GetCredential().GetSecret(); got != mariadbtest.NativePassword {
		t.Fatalf("password endpoint returned the wrong secret")
	}
	secrets = append(secrets, mariadbtest.NativePassword, wrongPassword, trustAWSSecretKey)

	res, err := app.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"db", "broken"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.GetResults(); len(r) != 2 || !r[0].GetOk() || r[1].GetOk() || r[1].GetError().GetNumber() != 1045 {
		t.Fatalf("validation results = %v, want db ok and broken 1045", r)
	}

	stranger := v1.NewBrokerServiceClient(d.conn(t, strangerCaller))
	_, err = stranger.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "db"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `"db"`) {
		t.Fatalf("stranger: %v, want PermissionDenied naming \"db\"", err)
	}

	// The flood caller has a burst of 5 and a near-zero rate: the 6th call
	// is refused, while the app caller (its own bucket) is not affected.
	flood := v1.NewBrokerServiceClient(d.conn(t, floodCaller))
	var codesSeen []codes.Code
	for range 7 {
		_, err := flood.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders"})
		codesSeen = append(codesSeen, status.Code(err))
	}
	wantCodes := []codes.Code{codes.OK, codes.OK, codes.OK, codes.OK, codes.OK, codes.ResourceExhausted, codes.ResourceExhausted}
	if diff := cmp.Diff(wantCodes, codesSeen); diff != "" {
		t.Errorf("flood caller codes (-want +got):\n%s", diff)
	}
	if _, err := app.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders"}); err != nil {
		t.Errorf("app caller limited by another caller's flood: %v", err)
	}

	code, stdout, stderr := d.stop()
	if code != 0 {
		t.Fatalf("daemon exit %d: %s", code, stderr)
	}
	got, raw := readAudit(t, d.auditFile)
	issued := func(caller, ep, user, kind string, exp bool) auditLine {
		return auditLine{Event: "credential_issued", Caller: caller, Endpoint: ep, DBUser: user, CredentialKind: kind, Outcome: "ok", Code: "OK", HasExpiry: exp, HasPeer: true, HasTime: true}
	}
	u := mariadbtest.NativeUser
	want := []auditLine{
		issued(appCaller, "orders", "app_orders", "iam_token", true),
		issued(appCaller, "db", u, "password", false),
		{Event: "validation", Caller: appCaller, Endpoint: "db", DBUser: u, Outcome: "ok", Code: "OK", HasPeer: true, HasTime: true},
		{Event: "validation", Caller: appCaller, Endpoint: "broken", DBUser: u, Outcome: "failed", Code: "OK", HasPeer: true, HasTime: true},
		{Event: "denied", Caller: strangerCaller, Endpoint: "db", DBUser: u, Outcome: "denied", Code: "PermissionDenied", HasPeer: true, HasTime: true},
	}
	for range 5 {
		want = append(want, issued(floodCaller, "orders", "app_orders", "iam_token", true))
	}
	for range 2 {
		want = append(want, auditLine{Event: "denied", Caller: floodCaller, Endpoint: "orders", DBUser: "app_orders", Outcome: "rate_limited", Code: "ResourceExhausted", HasPeer: true, HasTime: true})
	}
	want = append(want, issued(appCaller, "orders", "app_orders", "iam_token", true))
	// The endpoints of one ValidateConnection are validated concurrently
	// and each is audited when it is done: their order is not defined.
	sortValidations(got)
	sortValidations(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, `"caller":"`+appCaller+`"`) {
		t.Errorf("logs do not name the caller:\n%s", stderr)
	}
	for i, s := range secrets {
		if s == "" {
			t.Fatalf("secret %d is empty", i)
		}
		for name, text := range map[string]string{"stdout": stdout, "stderr (logs)": stderr, "audit file": string(raw)} {
			if strings.Contains(text, s) {
				t.Errorf("secret %d appears in the daemon's %s", i, name)
			}
		}
	}
}
