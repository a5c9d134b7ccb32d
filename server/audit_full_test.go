package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// fullTmpfs mounts a tiny tmpfs (as root: CI runs as root; a test that
// cannot mount fails) and fills it, leaving room bytes free; it unmounts
// in cleanup.
func fullTmpfs(t *testing.T, room int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs for the full-disk audit test (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		if _, err := f.Write(make([]byte, 512)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	if room > 0 {
		fi, _ := f.Stat()
		if err := f.Truncate(fi.Size() - int64(room)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type auditFixture struct {
	client  v1.BrokerServiceClient
	path    string
	errs    prometheus.Counter
	logs    *syncBuffer
	auditor *Auditor
}

func startAuditOn(t *testing.T, dir string, onError config.AuditOnError) auditFixture {
	t.Helper()
	svc, logs, _ := newService(t)
	path := filepath.Join(dir, "audit.jsonl")
	log := slog.New(slog.NewJSONHandler(logs, nil))
	a, closer, err := OpenAudit(config.Audit{Output: path}, os.Stdout, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer.Close() })
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "audit_errors_test"})
	a.FailClosed(onError == config.AuditDeny).CountErrors(errs)
	gs, _ := NewGRPCServerWith(svc, log, Extras{Audit: a})
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
	return auditFixture{client: v1.NewBrokerServiceClient(conn), path: path, errs: errs, logs: logs, auditor: a}
}

// wholeLines checks that the audit file holds only complete JSON lines.
func wholeLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("the audit file ends in a truncated line: %q", b[max(0, len(b)-80):])
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e AuditEvent
		if err := json.Unmarshal(l, &e); err != nil {
			t.Errorf("audit line is not JSON (%v): %q", err, l)
		}
		n++
	}
	return n
}

// F9: on a full disk with audit.on_error: allow, credentials are still
// issued, but every failure is counted and the file keeps whole lines
// only (no truncated JSON).
func TestAuditFullDiskAllowWritesWholeLines(t *testing.T) {
	dir := fullTmpfs(t, 4096) // one page: room for a few lines, then a partial one
	f := startAuditOn(t, dir, config.AuditAllow)
	for range 40 {
		if _, err := f.client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"}); err != nil {
			t.Fatalf("on_error: allow refused a credential: %v", err)
		}
	}
	lines := wholeLines(t, f.path)
	failed := testutil.ToFloat64(f.errs)
	t.Logf("%d whole lines written, %v writes failed", lines, failed)
	if lines == 0 || failed == 0 || int(failed)+lines != 40 {
		t.Errorf("lines %d + failed writes %v, want both > 0 and 40 in all", lines, failed)
	}
	if !strings.Contains(f.logs.String(), "write audit event") {
		t.Error("audit write failures are not logged")
	}
}

// F9: with audit.on_error: deny, a credential whose issue cannot be
// audited is not sent: GetConnectionParams gets UNAVAILABLE and a watch
// ends with UNAVAILABLE before its first params.
func TestAuditFullDiskDenyFailsClosed(t *testing.T) {
	dir := fullTmpfs(t, 0)
	f := startAuditOn(t, dir, config.AuditDeny)
	resp, err := f.client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("GetConnectionParams on a full audit disk = %v, %v; want UNAVAILABLE", resp, err)
	}
	if _, ei := errInfo(t, err); ei.GetReason() != ReasonAuditUnavailable {
		t.Errorf("reason %q, want %s", ei.GetReason(), ReasonAuditUnavailable)
	}
	if strings.Contains(err.Error(), filePassword) {
		t.Error("the refusal carries the password")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := f.client.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports"})
	if err == nil {
		var m *v1.WatchConnectionParamsResponse
		m, err = s.Recv()
		if err == nil {
			t.Fatalf("a watch sent params that could not be audited: %v", m.GetParams().GetEndpoint())
		}
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("watch on a full audit disk = %v, want UNAVAILABLE", err)
	}
	if got := testutil.ToFloat64(f.errs); got < 2 {
		t.Errorf("audit write errors counted: %v, want at least 2", got)
	}
	if n := wholeLines(t, f.path); n != 0 {
		t.Errorf("%d lines written on a full disk", n)
	}
}

// F9: probes and UNAUTHENTICATED callers are audited.
func TestProbeAndUnauthenticatedAreAudited(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	cl := f.client(t, dnsLeaf("batch.jobs.internal"), nil)
	if _, err := cl.ProbeEndpoint(context.Background(), &v1.ProbeEndpointRequest{Endpoint: "reports"}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	// A certificate from the right CA without any usable SAN.
	anon := f.client(t, &testpki.Leaf{CommonName: "batch.jobs.internal"}, nil)
	_, err := anon.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "reports"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("certificate without identity: %v, want UNAUTHENTICATED", err)
	}
	var probe, unauth bool
	for _, l := range strings.Split(strings.TrimSpace(f.audit.String()), "\n") {
		var e AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		switch {
		case e.Event == AuditProbe && e.Endpoint == "reports" && e.Caller == "batch.jobs.internal" && e.Outcome == OutcomeOK:
			probe = true
		case e.Event == AuditDenied && e.Code == codes.Unauthenticated.String() && e.Endpoint == "reports" && e.Peer != "":
			unauth = true
		}
	}
	if !probe || !unauth {
		t.Errorf("probe audited %v, UNAUTHENTICATED audited %v:\n%s", probe, unauth, f.audit.String())
	}
}
