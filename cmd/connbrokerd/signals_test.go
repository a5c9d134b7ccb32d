package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connbroker/connbroker/internal/testlog"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// lockedBuffer is the shared goroutine-safe log buffer.
type lockedBuffer = testlog.Buffer

// builtBins holds the binaries the tests build, once per test binary, in
// one directory anyone may traverse (a test runs the CLI as uid 65534);
// TestMain removes it.
var builtBins struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBins.dir != "" {
		os.RemoveAll(builtBins.dir)
	}
	os.Exit(code)
}

// buildBin builds the command in pkg (relative to this package) as name,
// once for every test that asks (a warm build takes a few seconds).
func buildBin(t *testing.T, pkg, name string) string {
	t.Helper()
	builtBins.mu.Lock()
	defer builtBins.mu.Unlock()
	if bin, ok := builtBins.bins[name]; ok {
		return bin
	}
	if builtBins.dir == "" {
		dir, err := os.MkdirTemp("", "connbrokerd-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		builtBins.dir, builtBins.bins = dir, map[string]string{}
	}
	bin := filepath.Join(builtBins.dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	builtBins.bins[name] = bin
	return bin
}

// buildDaemon builds connbrokerd (once per test binary).
func buildDaemon(t *testing.T) string { return buildBin(t, ".", "connbrokerd") }

// blackholeDB accepts TCP connections and never greets.
func blackholeDB(t *testing.T) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadAndGracefulShutdown runs the connbrokerd binary as a real
// process: SIGHUP with a valid config applies it without dropping a watch
// stream; SIGHUP with an invalid config (or one changing restart-only
// keys) is rejected with the reasons and the old config keeps serving;
// SIGTERM turns health NOT_SERVING, lets an in-flight validation finish,
// ends the watch stream cleanly and exits 0 within a bounded time.
func TestReloadAndGracefulShutdown(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("before-rotation"), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	bh := blackholeDB(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	auditOut := filepath.Join(dir, "audit.jsonl")
	writeCfg := func(extra string) {
		t.Helper()
		body := fmt.Sprintf(`listen: %s
audit: {output: `+auditOut+`}
watch: {poll: 100ms}
endpoints:
  db:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
  slow:
    host: 127.0.0.1
    port: %d
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: preferred}
%s`, addr, pw, bh, pw, extra)
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("")
	logs := &lockedBuffer{}
	cmd := exec.Command(bin, "--dev", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = []string{"PATH=/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED=true", "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, hc := v1.NewBrokerServiceClient(conn), healthpb.NewHealthClient(conn)
	waitFor(t, "daemon SERVING", 15*time.Second, func() bool {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	names := func() []string {
		r, err := cl.ListEndpoints(context.Background(), &v1.ListEndpointsRequest{})
		if err != nil {
			t.Fatalf("ListEndpoints: %v", err)
		}
		var out []string
		for _, e := range r.GetEndpoints() {
			out = append(out, e.GetName())
		}
		return out
	}

	watch, err := cl.WatchConnectionParams(context.Background(), &v1.WatchConnectionParamsRequest{Endpoint: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetReason() != v1.WatchReason_WATCH_REASON_INITIAL {
		t.Fatalf("first watch message: %v %v", m.GetReason(), err)
	}

	// A valid reload adds an endpoint; the watch keeps running; the audit
	// file, moved away as logrotate does, is reopened.
	auditPath := filepath.Join(dir, "audit.jsonl")
	if err := os.Rename(auditPath, auditPath+".1"); err != nil {
		t.Fatal(err)
	}
	writeCfg("  extra:\n    host: 127.0.0.1\n    user: x\n    auth: password\n    password: {file: " + pw + "}\n    tls: {mode: disabled}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoint extra after SIGHUP", 5*time.Second, func() bool { return slices.Contains(names(), "extra") })
	if err := os.WriteFile(pw, []byte("after-rotation-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetReason() != v1.WatchReason_WATCH_REASON_ROTATED || m.GetParams().GetCredential().GetSecret() != "after-rotation-longer" {
		t.Fatalf("watch after reload and rotation: %v %v", m.GetReason(), err)
	}
	waitFor(t, "the rotated credential in the reopened audit file", 5*time.Second, func() bool {
		b, _ := os.ReadFile(auditPath)
		return strings.Contains(string(b), `"event":"credential_issued"`)
	})
	if b, _ := os.ReadFile(auditPath + ".1"); !strings.Contains(string(b), `"event":"credential_issued"`) {
		t.Errorf("the first audit file lacks the initial issue:\n%s", b)
	}

	// Invalid reloads are rejected with the reasons; the old config serves.
	for _, tc := range []struct{ extra, audit, reason string }{
		{"  bad:\n    host: 127.0.0.1\n    port: 99999\n    user: x\n    auth: password\n    password: {env: X}\n", auditOut, "endpoints.bad.port"},
		{"", "stdout", "take effect only on a restart"},
	} {
		saved := auditOut
		auditOut = tc.audit
		writeCfg(tc.extra)
		auditOut = saved
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "rejection naming "+tc.reason, 5*time.Second, func() bool {
			return strings.Contains(logs.String(), "config reload rejected") && strings.Contains(logs.String(), tc.reason)
		})
		if got := names(); !slices.Contains(got, "extra") {
			t.Fatalf("after a rejected reload the endpoints are %v, want the old config", got)
		}
	}

	// SIGTERM with an in-flight validation and two open streams.
	hw, err := hc.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := hw.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch: %v %v", r, err)
	}
	type vres struct {
		r   *v1.ValidateConnectionResponse
		err error
	}
	inflight := make(chan vres, 1)
	go func() {
		r, err := cl.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{Endpoints: []string{"slow"}, Timeout: durationpb.New(1500 * time.Millisecond)})
		inflight <- vres{r, err}
	}()
	time.Sleep(300 * time.Millisecond) // the validation is now waiting on the blackhole
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r, err := hw.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after SIGTERM: %v %v, want NOT_SERVING", r, err)
	}
	for {
		_, err := watch.Recv()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("watch stream ended with %v, want a clean end", err)
		}
		break
	}
	v := <-inflight
	if v.err != nil || len(v.r.GetResults()) != 1 || !strings.Contains(v.r.GetResults()[0].GetReason(), "timed out") {
		t.Errorf("in-flight validation: %v %v, want it to finish with its own timeout finding", v.r, v.err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, logs.String())
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
	took := time.Since(start)
	t.Logf("SIGTERM to exit: %v", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("shutdown took %v; streams or calls held it up", took)
	}
}
