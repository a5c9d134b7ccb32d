package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// fleetConfigFile writes the config `make bench` starts connbrokerd on
// (internal/cmd/bench fleetConfig): n IAM endpoints on distinct RDS Proxy
// host names, listening on addr.
func fleetConfigFile(b *testing.B, addr string, n int) string {
	b.Helper()
	var s strings.Builder
	fmt.Fprintf(&s, "listen: %s\nlog: {level: info, format: json}\nendpoints:\n", addr)
	for i := range n {
		fmt.Fprintf(&s, "  db%05d:\n    host: db%05d.proxy-abc123def456.us-west-2.rds.amazonaws.com\n    user: app_%05d\n    auth: iam\n", i, i, i)
	}
	p := filepath.Join(b.TempDir(), "fleet.yaml")
	if err := os.WriteFile(p, []byte(s.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkStartFleet runs the daemon in process on the bench's
// 10,000-endpoint config from run to the first answered health check
// (SERVING), then stops it: the start path without the process's own exec
// and package init. The health client retries every 2 ms (gRPC's default
// reconnect backoff would wait 1 s after the first refused dial).
func BenchmarkStartFleet(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	cfg := fleetConfigFile(b, addr, 10000)
	for _, kv := range [][2]string{{"AWS_EC2_METADATA_DISABLED", "true"}, {"AWS_ACCESS_KEY_ID", "AKIDBENCH"}, {"AWS_SECRET_ACCESS_KEY", "bench"}, {"AWS_CONFIG_FILE", os.DevNull}, {"AWS_SHARED_CREDENTIALS_FILE", os.DevNull}} {
		b.Setenv(kv[0], kv[1])
	}
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		cpu0 := processCPU()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan string, 1)
		go func() {
			code, _, errOut := daemon(ctx, "--dev", "--config", cfg)
			done <- fmt.Sprintf("exit %d: %s", code, errOut)
		}()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 2 * time.Millisecond, Multiplier: 1, MaxDelay: 2 * time.Millisecond}, MinConnectTimeout: time.Second}))
		if err != nil {
			b.Fatal(err)
		}
		hc := healthpb.NewHealthClient(conn)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			}
			select {
			case out := <-done:
				b.Fatalf("daemon exited before serving: %v\n%s", err, out)
			default:
			}
			if time.Now().After(deadline) {
				b.Fatalf("daemon not serving within 20s: %v", err)
			}
		}
		b.StopTimer()
		cpu += processCPU() - cpu0
		conn.Close()
		cancel()
		<-done
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user + system, every thread: GC included)
// the test process has used: on a shared machine it moves less than the
// wall clock. It counts the health client's polling too (small).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
