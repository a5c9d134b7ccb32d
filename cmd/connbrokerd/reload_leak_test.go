package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// settleGoroutines waits up to 5 s for the goroutine count to reach at
// most want and returns the last count.
func settleGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestHundredSIGHUPsStayFlat runs run() in process, sends it 100 SIGHUPs
// (each reload followed by a GetConnectionParams on an auth: auto endpoint
// whose config carries a large CA bundle, with a client environment for
// the SQLite inventory, and one on an endpoint AWS discovery found in
// moto: every SIGHUP starts a discovery run) and checks the goroutine
// count and the heap stay flat, and that run() leaves no goroutine behind
// (the reload goroutine, the discovery loop and the inventory writer end
// with it).
func TestHundredSIGHUPsStayFlat(t *testing.T) {
	m := mototest.Start(t) // before counting: its front server's goroutines are the test's
	tr := &http.Transport{}
	r := rds.NewFromConfig(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials(), BaseEndpoint: aws.String(m.URL), HTTPClient: &http.Client{Transport: tr}})
	if _, err := r.CreateDBInstance(context.Background(), &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("found-db"), DBInstanceClass: aws.String("db.t3.micro"),
		Engine: aws.String("mysql"), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("not-used-1234"), AllocatedStorage: aws.Int32(20),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
		Tags:                            []rdstypes.Tag{{Key: aws.String("connbroker"), Value: aws.String("found")}, {Key: aws.String("connbroker:user"), Value: aws.String("app")}}}); err != nil {
		t.Fatalf("create instance: %v", err)
	}
	tr.CloseIdleConnections() // the test's own connection is not counted
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("reload-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A CA bundle of the weight of a real one (every reload reads it anew).
	ca := filepath.Join(dir, "ca.pem")
	pem, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("system CA bundle: %v", err)
	}
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	closed := freeAddr(t) // nothing listens: the greeting read fails, the password decides
	host, port, _ := net.SplitHostPort(closed)
	addr, maddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`metrics: {listen: %q}
aws: {endpoint_url: %q}
discovery: {aws: {regions: [%s], tag: connbroker, interval: 1h}}
inventory: {path: %s}
endpoints:
  auto:
    host: %s
    port: %s
    user: app
    auth: auto
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, maddr, m.URL, mototest.Region, filepath.Join(dir, "inventory.db"), host, port, pw, ca))
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": mototest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": mototest.SecretAccessKey, "AWS_REGION": mototest.Region,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}

	// os/signal starts its one receive loop on the first Notify and keeps
	// it for the life of the process: start it before counting.
	warm := make(chan os.Signal, 1)
	signal.Notify(warm, syscall.SIGUSR2)
	signal.Stop(warm)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut string
	go func() {
		code, _, e := daemon(ctx, "--config", cfg, "--listen", addr, "--dev")
		errOut = e
		done <- code
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d: %s", code, errOut)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("daemon did not stop")
		}
	}
	t.Cleanup(stop)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	hc, cl := healthpb.NewHealthClient(conn), v1.NewBrokerServiceClient(conn)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving: %v", err)
		}
	}
	waitFor(t, "the discovered endpoint", 20*time.Second, func() bool {
		_, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "found"})
		return err == nil
	})
	env := &v1.ClientEnvironment{Driver: "go-sql-driver", Runtime: "go1.26", Packages: []*v1.ClientPackage{{Name: "github.com/go-sql-driver/mysql", Version: "v1.10.1"}}}
	applied := `connbroker_config_reloads_total{result="applied"}`
	reload := func(i int) {
		t.Helper()
		want := scrape(t, "http://"+maddr+"/metrics")[applied] + 1
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); scrape(t, "http://"+maddr+"/metrics")[applied] < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d not applied within 5s", i)
			}
		}
		if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "auto", ClientEnvironment: env}); err != nil {
			t.Fatalf("GetConnectionParams after reload %d: %v", i, err)
		}
		// The discovered endpoint stays served across the reload (the
		// configurator merges the new base with what it found).
		if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "found"}); err != nil {
			t.Fatalf("GetConnectionParams(found) after reload %d: %v", i, err)
		}
	}
	reload(0)
	g1, h1 := runtime.NumGoroutine(), heapInUse()
	for i := 1; i <= 100; i++ {
		reload(i)
	}
	g2 := settleGoroutines(g1 + 2)
	h2 := heapInUse()
	t.Logf("goroutines %d -> %d, heap %d KiB -> %d KiB over 100 reloads (CA bundle %d KiB)", g1, g2, h1>>10, h2>>10, len(pem)>>10)
	if g2 > g1+2 {
		t.Errorf("goroutines grew from %d to %d over 100 reloads", g1, g2)
	}
	if grew := int64(h2) - int64(h1); grew > int64(10*len(pem)) {
		t.Errorf("heap grew %d KiB over 100 reloads (a config is ~%d KiB): old configs are kept alive", grew>>10, len(pem)>>10)
	}
	conn.Close()
	stop()
	if n := settleGoroutines(before); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after run() returned, %d before it started:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
