package server

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	mariadb "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// boundsBroker serves cfgYAML over a real loopback socket and returns a
// client, the service and the logs.
func boundsBroker(t *testing.T, cfgYAML string, x Extras) (v1.BrokerServiceClient, *broker.Service, *syncBuffer) {
	t.Helper()
	cfg, err := config.Parse("bounds", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	issuer := &credential.Router{Password: credential.NewPasswords(func(k string) (string, bool) {
		if k == "NATIVE_PW" {
			return mariadb.NativePassword, true
		}
		return "", false
	})}
	svc := broker.New(cfg, issuer, log)
	gs, _ := NewGRPCServerWith(svc, log, x)
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
	return v1.NewBrokerServiceClient(conn), svc, logs
}

// mariaEndpoint is an endpoint on the private MariaDB (or on addr, a proxy
// in front of it) for the native user.
func mariaEndpoint(name, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("  %s:\n    host: %s\n    port: %s\n    user: %s\n    database: %s\n    auth: password\n    password: {env: NATIVE_PW}\n    tls: {mode: disabled}\n",
		name, host, port, mariadb.NativeUser, mariadb.Database)
}

func globalStatus(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var k string
	var v int
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// F5: a flood of probes cannot fill MariaDB's max_connections (200 in
// the test peer): per-caller limits refuse most of it, and even with them
// lifted the probes are bounded by validation.max_concurrent and
// limits.endpoint_concurrent. Applications keep logging in throughout.
func TestProbeFloodCannotFillMaxConnections(t *testing.T) {
	srv := mariadb.StartForTest(t, mariadb.Options{})
	root, err := srv.RootDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, tt := range []struct {
		name, limits string
		probes       int
		maxAdmitted  int // probes that may get through the per-caller limits
	}{
		{"default limits", "", 3000, 20 + 5*30 + 5}, // burst + rate x the longest run
		{"per-caller limits lifted", "limits: {probe: {rate: 1000000, burst: 1000000, concurrent: 100000}}\n", 1000, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, _, _ := boundsBroker(t, tt.limits+"endpoints:\n"+mariaEndpoint("db", srv.Addr), Extras{})
			if _, err := root.Exec("FLUSH STATUS"); err != nil {
				t.Fatal(err)
			}
			before := globalStatus(t, root, "Connections")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			var admitted, exhausted, other atomic.Int64
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range 128 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(tt.probes) && ctx.Err() == nil {
						_, err := client.ProbeEndpoint(ctx, &v1.ProbeEndpointRequest{Endpoint: "db"})
						switch status.Code(err) {
						case codes.OK:
							admitted.Add(1)
						case codes.ResourceExhausted:
							exhausted.Add(1)
						default:
							other.Add(1)
						}
					}
				}()
			}
			// An application logging in over and over during the flood.
			appErrs := make(chan error, 1)
			appDone := make(chan struct{})
			go func() {
				defer close(appDone)
				conn, err := mysql.NewConnector(srv.Config(mariadb.NativeUser, mariadb.NativePassword, false))
				if err != nil {
					appErrs <- err
					return
				}
				for i := 0; i < 50; i++ {
					c, err := conn.Connect(ctx)
					if err != nil {
						appErrs <- fmt.Errorf("app login %d: %w", i, err)
						return
					}
					c.Close()
					time.Sleep(10 * time.Millisecond)
				}
			}()
			wg.Wait()
			<-appDone
			elapsed := time.Since(start)
			select {
			case err := <-appErrs:
				t.Fatalf("the application could not log in during the probe flood: %v", err)
			default:
			}
			if ctx.Err() != nil {
				t.Fatalf("the flood did not end within 30s (admitted %d)", admitted.Load())
			}
			maxUsed := globalStatus(t, root, "Max_used_connections")
			opened := globalStatus(t, root, "Connections") - before
			t.Logf("%d probes in %s: %d admitted, %d RESOURCE_EXHAUSTED, %d other; MariaDB Max_used_connections %d, connections opened %d",
				tt.probes, elapsed.Round(time.Millisecond), admitted.Load(), exhausted.Load(), other.Load(), maxUsed, opened)
			// validation.max_concurrent (4) probes + the application + root.
			if maxUsed > 4+2+2 {
				t.Errorf("Max_used_connections = %d: probes were not bounded (max_connections is 200)", maxUsed)
			}
			if n := admitted.Load(); n > int64(tt.maxAdmitted) || n == 0 {
				t.Errorf("%d probes admitted, want 1..%d", n, tt.maxAdmitted)
			}
			if other.Load() != 0 {
				t.Errorf("%d probes failed with a code other than OK or RESOURCE_EXHAUSTED", other.Load())
			}
		})
	}
}

// delayProxy forwards connections to target after holding each one for
// delay (a slow database), and counts them.
func delayProxy(t *testing.T, target string, delay time.Duration) (addr string, accepted *atomic.Int64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				time.Sleep(delay)
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()
	return lis.Addr().String(), accepted
}

// blackhole accepts connections and never answers (until the test ends).
func blackhole(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int64{}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return lis.Addr().String(), accepted
}

const laxValidate = "limits: {validate: {rate: 1000000, burst: 1000000, concurrent: 100000}}\n"

// F6: concurrent validations of one endpoint that differ only in their
// timeout share one login.
func TestValidateVaryingTimeoutStillCoalesces(t *testing.T) {
	srv := mariadb.StartForTest(t, mariadb.Options{})
	addr, accepted := delayProxy(t, srv.Addr, 300*time.Millisecond)
	client, _, _ := boundsBroker(t, laxValidate+"endpoints:\n"+mariaEndpoint("slow", addr), Extras{})
	const calls = 50
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{
				Endpoints: []string{"slow"}, Timeout: durationpb.New(10*time.Second + time.Duration(i)*time.Millisecond)})
			if err == nil && resp.GetOk() {
				ok.Add(1)
			} else if err != nil {
				t.Errorf("validate: %v", err)
			} else {
				t.Errorf("validate failed: %s", resp.GetResults()[0].GetReason())
			}
		}()
	}
	wg.Wait()
	// One shared validation makes a login and a diagnosis handshake; two
	// rounds at most when a late caller arrives after the first finished.
	if n := accepted.Load(); n > 6 {
		t.Errorf("%d validations with different timeouts opened %d database connections; want them to share one login", calls, n)
	}
	if ok.Load() != calls {
		t.Errorf("%d of %d validations ok", ok.Load(), calls)
	}
}

// F6: 10k validations abandoned by their callers leave no work behind:
// the shared login is cancelled once every waiter has gone.
func TestCancelledValidationsLeaveNoGoroutines(t *testing.T) {
	hole, accepted := blackhole(t)
	client, _, _ := boundsBroker(t, laxValidate+"validation: {timeout: 60s}\nendpoints:\n"+mariaEndpoint("hole", hole), Extras{})
	// Warm up the connection and the server's goroutines.
	ctx0, cancel0 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	client.ValidateConnection(ctx0, &v1.ValidateConnectionRequest{Endpoints: []string{"hole"}})
	cancel0()
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	base := runtime.NumGoroutine()
	start := time.Now()
	const calls, workers = 10000, 64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= calls; i = next.Add(1) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+i%30)*time.Millisecond)
				client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"hole"},
					Timeout: durationpb.New(time.Second + time.Duration(i%1000)*50*time.Millisecond)})
				cancel()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d cancelled validations in %s; the blackhole accepted %d connections", calls, time.Since(start).Round(time.Millisecond), accepted.Load())
	if accepted.Load() == 0 {
		t.Fatal("no validation reached the database: the test proves nothing")
	}
	var now int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		runtime.GC()
		if now = runtime.NumGoroutine(); now <= base+40 {
			break
		}
	}
	if now > base+40 {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after %d cancelled validations\n%s", base, now, calls, buf[:n])
	}
}

// F6: all: true obeys the same 256-endpoint cap as an explicit list.
func TestValidateAllObeysTheEndpointCap(t *testing.T) {
	hole, accepted := blackhole(t)
	var b strings.Builder
	b.WriteString(laxValidate + "endpoints:\n")
	for i := range 300 {
		b.WriteString(mariaEndpoint(fmt.Sprintf("e%03d", i), hole))
	}
	client, _, _ := boundsBroker(t, b.String(), Extras{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{All: true})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "at most 256") {
		t.Fatalf("all: true over 300 endpoints = %v, want INVALID_ARGUMENT naming the cap", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("the refused request opened %d connections", n)
	}
}

// F6: calls to a blackholed endpoint (accepts, never answers) do not
// starve validations of another endpoint.
func TestBlackholedEndpointDoesNotStarveOthers(t *testing.T) {
	srv := mariadb.StartForTest(t, mariadb.Options{})
	hole, accepted := blackhole(t)
	client, _, _ := boundsBroker(t, laxValidate+"validation: {timeout: 30s}\nendpoints:\n"+mariaEndpoint("hole", hole)+mariaEndpoint("good", srv.Addr), Extras{})
	holeCtx, cancelHole := context.WithCancel(context.Background())
	defer cancelHole()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancelHole()
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &v1.ValidateConnectionRequest{Endpoints: []string{"hole"}, CompareDrivers: i%2 == 0,
				Timeout: durationpb.New(time.Duration(20+i) * time.Second)}
			if i%4 == 1 { // one caller's own environment: never shared
				req.ClientEnvironment = &v1.ClientEnvironment{Driver: "pymysql"}
			}
			client.ValidateConnection(holeCtx, req)
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); accepted.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let every hole call take what it can
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"good"}})
	if err != nil || !resp.GetOk() {
		t.Fatalf("validate good while 40 calls hang on a blackholed endpoint: %v %v", err, resp.GetResults())
	}
	t.Logf("good validated in %s; the blackhole holds %d connections", time.Since(start).Round(time.Millisecond), accepted.Load())
	if n := accepted.Load(); n > int64(config.DefaultEndpointConcurrent) {
		t.Errorf("the blackholed endpoint holds %d connections, want at most limits.endpoint_concurrent (%d)", n, config.DefaultEndpointConcurrent)
	}
}
