package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcinsecure "google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// The role and the broker's own account, as STS names them in its error.
const (
	deniedRole    = "arn:aws:iam::123456789012:role/connbroker-orders"
	brokerAccount = "210987654321"
)

// L7: an AssumeRole failure (its message names the role ARN and the
// account ids) is logged in full, but reaches callers only as a safe
// message and a reason; a file source is shown only as its kind.
func TestAssumedRoleFailureDoesNotReachTheClient(t *testing.T) {
	var calls atomic.Int64
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>`+
			`<Message>User: arn:aws:iam::%s:user/connbroker is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error>`+
			`<RequestId>4f1b7c2e-l7</RequestId></ErrorResponse>`, brokerAccount, deniedRole)
	}))
	t.Cleanup(sts.Close)
	dir := t.TempDir()
	pw := filepath.Join(dir, "secret-reports-password")
	if err := os.WriteFile(pw, []byte("l7-file-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": sts.URL, "AWS_ACCESS_KEY_ID": "AKIDL7TEST0000000001", "AWS_SECRET_ACCESS_KEY": "l7-test-secret",
		"AWS_REGION": "us-west-2", "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
endpoints:
  assumed:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
    role_arn: %s
  reports:
    host: 127.0.0.1
    port: 1
    user: reporter
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, addr, deniedRole, pw))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() { _, _, errOut := daemon(dctx, "--config", cfg, "--dev"); done <- errOut }()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpcinsecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := v1.NewBrokerServiceClient(conn)
	waitFor(t, "daemon SERVING", 15*time.Second, func() bool {
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	leaks := func(where, s string) {
		t.Helper()
		for _, bad := range []string{"123456789012", brokerAccount, deniedRole, "connbroker-orders", "4f1b7c2e-l7", "not authorized"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s carries %q: %s", where, bad, s)
			}
		}
	}
	_, err = cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "assumed"})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("GetConnectionParams with a denied role: %v, want UNAVAILABLE", err)
	}
	if !strings.Contains(st.Message(), "AccessDenied") || !strings.Contains(st.Message(), "credential from iam") {
		t.Errorf("message %q should give the source kind and the AWS error code", st.Message())
	}
	leaks("the GetConnectionParams status", fmt.Sprint(st.Proto()))
	v, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"assumed"}})
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	leaks("the validation result", fmt.Sprint(v))
	p, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "reports"})
	if err != nil {
		t.Fatal(err)
	}
	if src := p.GetParams().GetCredential().GetSource(); src != "file" {
		t.Errorf("credential.source = %q, want only its kind, file", src)
	}
	if calls.Load() == 0 {
		t.Error("STS was never asked")
	}
	stop()
	logs := <-done
	if !strings.Contains(logs, deniedRole) || !strings.Contains(logs, brokerAccount) {
		t.Errorf("the daemon's log lacks the full AWS error:\n%s", logs)
	}
}
