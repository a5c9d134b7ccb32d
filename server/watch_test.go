package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/policy"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

type watchFixture struct {
	client   v1.BrokerServiceClient
	pwFile   string
	audit    *syncBuffer
	shutdown chan struct{}
}

// startWatch serves a password endpoint (file) and an IAM endpoint whose
// tokens are refreshed every second, over a real loopback socket.
func startWatch(t *testing.T) watchFixture {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("first-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("watch", []byte(fmt.Sprintf(`
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
  reports:
    host: 127.0.0.1
    user: reporter
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, pw)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	issuer := &credential.Router{
		IAM: credential.NewIAM(credentials.NewStaticCredentialsProvider("AKIDWATCHTEST0000001", "watch-test-secret", ""),
			credential.WithRefreshAfter(time.Second)),
		Password: credential.NewPasswords(nil),
	}
	audit := &syncBuffer{}
	shutdown := make(chan struct{})
	gs, _ := NewGRPCServerWith(broker.New(cfg, issuer, log), log, Extras{Audit: NewAuditor(audit, log), Shutdown: shutdown, WatchPoll: 50 * time.Millisecond})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return watchFixture{client: v1.NewBrokerServiceClient(conn), pwFile: pw, audit: audit, shutdown: shutdown}
}

func recvWithin(t *testing.T, s grpc.ServerStreamingClient[v1.WatchConnectionParamsResponse], d time.Duration) *v1.WatchConnectionParamsResponse {
	t.Helper()
	type res struct {
		m   *v1.WatchConnectionParamsResponse
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := s.Recv(); ch <- res{m, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Recv: %v", r.err)
		}
		return r.m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return nil
}

func TestWatchSendsRotatedPassword(t *testing.T) {
	f := startWatch(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := f.client.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports", Driver: "pymysql"})
	if err != nil {
		t.Fatal(err)
	}
	m := recvWithin(t, s, 2*time.Second)
	if m.GetReason() != v1.WatchReason_WATCH_REASON_INITIAL || m.GetParams().GetCredential().GetSecret() != "first-password" || m.GetParams().GetHints().GetDriver() != "pymysql" {
		t.Fatalf("first message: reason %v", m.GetReason())
	}
	if err := os.WriteFile(f.pwFile, []byte("rotated-password-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m = recvWithin(t, s, 2*time.Second)
	if m.GetReason() != v1.WatchReason_WATCH_REASON_ROTATED || m.GetParams().GetCredential().GetSecret() != "rotated-password-longer" {
		t.Fatalf("after rotation: reason %v", m.GetReason())
	}
	t.Logf("rotation noticed after %v", time.Since(start).Round(time.Millisecond))
	// The stream ends cleanly (OK) when the server shuts down.
	close(f.shutdown)
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("stream ended with %v, want a clean end (io.EOF)", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stream did not end on shutdown")
	}
	audit := f.audit.String()
	if n := strings.Count(audit, `"event":"credential_issued"`); n != 2 || strings.Contains(audit, "password-") {
		t.Errorf("audit: %d issued events (want 2), or a secret leaked:\n%s", n, audit)
	}
}

func TestWatchRefreshesIAMToken(t *testing.T) {
	f := startWatch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.client.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	first := recvWithin(t, s, 2*time.Second)
	next := recvWithin(t, s, 3*time.Second)
	if next.GetReason() != v1.WatchReason_WATCH_REASON_REFRESH {
		t.Errorf("reason = %v, want REFRESH", next.GetReason())
	}
	a, b := first.GetParams().GetCredential(), next.GetParams().GetCredential()
	if a.GetSecret() == b.GetSecret() || !b.GetRefreshAfter().AsTime().After(a.GetRefreshAfter().AsTime()) {
		t.Errorf("refreshed token is not newer: %v -> %v", a.GetRefreshAfter().AsTime(), b.GetRefreshAfter().AsTime())
	}
	if until := time.Until(a.GetRefreshAfter().AsTime()); until > 200*time.Millisecond {
		t.Errorf("refresh arrived %v before refresh_after", until)
	}
}

func TestWatchErrors(t *testing.T) {
	f := startWatch(t)
	for _, tt := range []struct {
		endpoint string
		code     codes.Code
	}{{"nope", codes.NotFound}, {"", codes.InvalidArgument}} {
		s, err := f.client.WatchConnectionParams(context.Background(), &v1.WatchConnectionParamsRequest{Endpoint: tt.endpoint})
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != tt.code {
			t.Errorf("watch %q: %v, want %v", tt.endpoint, err, tt.code)
		}
	}
	if !strings.Contains(f.audit.String(), `"event":"issue_failed"`) {
		t.Errorf("failed watch not audited: %s", f.audit.String())
	}
}

func TestWatchDeniedOverMTLS(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	s, err := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil).WatchConnectionParams(context.Background(), &v1.WatchConnectionParamsRequest{Endpoint: "reports"})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `"reports"`) {
		t.Fatalf("watch of a denied endpoint: %v", err)
	}
	if !strings.Contains(f.audit.String(), `"event":"denied"`) {
		t.Errorf("denied watch not audited: %s", f.audit.String())
	}
}

func TestWatchOpensCountAgainstTheIssueRate(t *testing.T) {
	f := startMTLS(t, mtlsPolicy+"limits: {issue_rate: 0.01, issue_burst: 2}\n")
	cl := f.client(t, dnsLeaf("batch.jobs.internal"), nil)
	var got []codes.Code
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := cl.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports"})
		if err == nil {
			_, err = s.Recv()
		}
		cancel()
		got = append(got, status.Code(err))
	}
	want := []codes.Code{codes.OK, codes.OK, codes.ResourceExhausted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("codes = %v, want %v", got, want)
	}
}

// TestReloadRevokingAccessEndsWatch: a config reload that drops the
// caller's rule ends its running watch with PERMISSION_DENIED.
func TestReloadRevokingAccessEndsWatch(t *testing.T) {
	f := startMTLS(t, mtlsPolicy+"watch: {poll: 100ms}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil).WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	old := f.svc.Config()
	nc := *old
	nc.Policy = slices.DeleteFunc(slices.Clone(old.Policy), func(r policy.Rule) bool { return r.Caller == "spiffe://prod/ns/orders/sa/api" })
	f.svc.SetConfig(&nc)
	start := time.Now()
	for {
		_, err := s.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("watch ended with %v, want PermissionDenied", err)
		}
		break
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("revocation took %v to end the watch", d)
	}
}

// TestUnaryCallsWhileWatchesHoldEveryWorker checks that long-lived watch
// streams holding every stream worker (streamWorkers) do not hold up unary
// calls: a stream that finds no idle worker gets its own goroutine.
func TestUnaryCallsWhileWatchesHoldEveryWorker(t *testing.T) {
	conn, _ := startSocket(t)
	cl := v1.NewBrokerServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := int(streamWorkers()) + 8
	for range n {
		s, err := cl.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports"})
		if err != nil {
			t.Fatal(err)
		}
		recvWithin(t, s, 5*time.Second) // the stream's handler is running
	}
	for range 20 {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cl.GetConnectionParams(cctx, &v1.GetConnectionParamsRequest{Endpoint: "reports", Driver: "pymysql"})
		ccancel()
		if err != nil {
			t.Fatalf("with %d watches open (%d workers): %v", n, streamWorkers(), err)
		}
	}
}
