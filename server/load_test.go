package server

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestBoundedLoad runs a fixed, loopback-only mix of RPCs from 8 clients
// that reconnect every 25 calls: at most 4000 calls or 4 s. It checks for
// zero errors and that goroutines and heap return to their baseline
// afterwards. Latency is logged, not asserted: on a shared machine a timed
// assertion is noise; latency is measured side by side in `make bench`
// (BENCHMARKS.md).
func TestBoundedLoad(t *testing.T) {
	svc, _, _ := newService(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := NewGRPCServer(svc, slog.New(slog.DiscardHandler))
	go gs.Serve(lis)
	defer gs.Stop()
	addr := lis.Addr().String()

	runtime.GC()
	baseG := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const workers, maxCalls, perConn = 8, 4000, 25
	deadline := time.Now().Add(4 * time.Second)
	var mu sync.Mutex
	var lat []time.Duration
	var errs []error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for n := 0; n < maxCalls/workers && time.Now().Before(deadline); {
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				cl, hc := v1.NewBrokerServiceClient(conn), healthpb.NewHealthClient(conn)
				for i := 0; i < perConn && n < maxCalls/workers; i, n = i+1, n+1 {
					start := time.Now()
					var err error
					switch (n + w) % 10 {
					case 0, 1, 2, 3, 4, 5:
						_, err = cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"})
					case 6, 7:
						_, err = cl.ListEndpoints(ctx, &v1.ListEndpointsRequest{})
					case 8:
						_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{})
					case 9:
						wctx, cancel := context.WithCancel(ctx)
						var s grpc.ServerStreamingClient[v1.WatchConnectionParamsResponse]
						if s, err = cl.WatchConnectionParams(wctx, &v1.WatchConnectionParamsRequest{Endpoint: "reports"}); err == nil {
							_, err = s.Recv()
						}
						cancel()
					}
					d := time.Since(start)
					mu.Lock()
					lat = append(lat, d)
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
				conn.Close()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("calls %d, p50 %v, p99 %v, max %v", len(lat), p50, p99, lat[len(lat)-1])
	if len(lat) < 500 {
		t.Errorf("only %d calls in the run; the load did not happen", len(lat))
	}
	waitFor := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseG+5 && time.Now().Before(waitFor) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > baseG+5 {
		t.Errorf("goroutines %d after the run, baseline %d", g, baseG)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap before %d KiB, after %d KiB", before.HeapAlloc>>10, after.HeapAlloc>>10)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB over the run", growth>>20)
	}
}
