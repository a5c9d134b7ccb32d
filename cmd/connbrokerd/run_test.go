package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/connbroker/connbroker/internal/cli"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app
    auth: iam
`

func daemon(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := func(string) (string, bool) { return "", false }
	code := cli.Exit("connbrokerd", run(ctx, args, env, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

// serveDev runs the daemon in process (--dev, cfg, --listen addr) until
// the test ends and returns a connection to it once it is SERVING.
func serveDev(t *testing.T, cfg, addr string) *grpc.ClientConn {
	t.Helper()
	conn, _ := serveDevLogged(t, cfg, addr)
	return conn
}

// serveDevLogged is serveDev that also returns stop: it stops the daemon
// (once; cleanup does it otherwise) and returns its stderr, for tests that
// check what the daemon logged.
func serveDevLogged(t *testing.T, cfg, addr string) (*grpc.ClientConn, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		_, _, errOut := daemon(ctx, "--dev", "--config", cfg, "--listen", addr)
		done <- errOut
	}()
	var (
		once sync.Once
		logs string
	)
	stop := func() string {
		once.Do(func() {
			cancel()
			select {
			case logs = <-done:
			case <-time.After(15 * time.Second):
				t.Error("daemon did not stop")
			}
		})
		return logs
	}
	t.Cleanup(func() { stop() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return conn, stop
		}
		select {
		case errOut := <-done:
			t.Fatalf("daemon exited before serving: %v\n%s", err, errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving within 10s: %v", err)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	good := writeConfig(t, goodConfig)
	bad := writeConfig(t, "endpoints:\n  orders:\n    host: h\n    port: 0\n    auth: iam\n    colour: blue\n")
	invalid := writeConfig(t, "endpoints:\n  orders:\n    host: h\n    port: 99999\n    auth: magic\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		output []string
	}{
		{"valid", []string{"--config", good, "--check-config"}, 0, []string{"OK (1 endpoints)"}},
		{"unknown key", []string{"--config", bad, "--check-config"}, 2, []string{`unknown key "colour"`}},
		{"every problem at once", []string{"--config", invalid, "--check-config"}, 2, []string{"endpoints.orders.port", "endpoints.orders.user", "endpoints.orders.auth", "fix:"}},
		{"missing file", []string{"--config", "/nonexistent.yaml", "--check-config"}, 2, []string{"no such file"}},
		{"no config", []string{"--check-config"}, 2, []string{"--config"}},
		{"bad flag", []string{"--bogus"}, 2, []string{"unknown flag: --bogus"}},
		{"Go-style single-dash flags", []string{"-config", good, "-check-config"}, 0, []string{"OK (1 endpoints)"}},
		{"help", []string{"--help"}, 0, []string{"--check-config", "CONNBROKER_CONFIG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := daemon(context.Background(), tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s %s", code, tt.code, out, errOut)
			}
			for _, s := range tt.output {
				if !strings.Contains(out+errOut, s) {
					t.Errorf("output lacks %q:\n%s%s", s, out, errOut)
				}
			}
		})
	}
}

// TestServeAndShutdown runs the daemon for real and stops it with its context.
func TestServeAndShutdown(t *testing.T) {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, goodConfig)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut string
	go func() {
		code, _, e := daemon(ctx, "--dev", "--config", cfg, "--listen", addr)
		errOut = e
		done <- code
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop")
	}
}
