package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// scrape fetches /metrics and returns every sample as
// `name{label="v",...}` -> value (labels sorted by name).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsScrape runs the daemon for real with a metrics listener,
// makes real RPCs and a SIGHUP reload, and checks the series exist and move.
func TestMetricsScrape(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-never-in-metrics\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := freeAddr(t) // nothing listens there: validation fails at dial
	_, closedPort, _ := net.SplitHostPort(closed)
	addr, maddr := freeAddr(t), freeAddr(t)
	body := fmt.Sprintf(`metrics: {listen: %q}
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app
    auth: iam
  reports:
    host: 127.0.0.1
    port: %s
    user: reporter
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, maddr, closedPort, pw)
	cfg := writeConfig(t, body)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDMETRICSTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "metrics-test-secret")
	conn := serveDev(t, cfg, addr)
	ctx := t.Context()
	url := "http://" + maddr + "/metrics"
	before := scrape(t, url)
	// Series that must exist before any traffic (pre-initialised).
	for _, k := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetConnectionParams",grpc_service="connbroker.v1.BrokerService",grpc_type="unary"}`,
		`connbroker_config_reloads_total{result="applied"}`,
		`connbroker_config_reloads_total{result="rejected"}`,
		`process_resident_memory_bytes{}`,
		`go_goroutines{}`,
	} {
		if _, ok := before[k]; !ok {
			t.Errorf("series missing before traffic: %s", k)
		}
	}

	cl := v1.NewBrokerServiceClient(conn)
	for range 3 {
		if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"}); err != nil {
			t.Fatalf("params orders: %v", err)
		}
	}
	if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "reports"}); err != nil {
		t.Fatalf("params reports: %v", err)
	}
	if _, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "nope"}); err == nil {
		t.Fatal("unknown endpoint succeeded")
	}
	if _, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"reports"}}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// A reload with a broken file is rejected and counted.
	if err := os.WriteFile(cfg, []byte("endpoints: {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}

	var after map[string]float64
	rejected := `connbroker_config_reloads_total{result="rejected"}`
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after = scrape(t, url)
		if after[rejected] == 1 || time.Now().After(deadline) {
			break
		}
	}
	const svc = `grpc_method="%s",grpc_service="connbroker.v1.BrokerService",grpc_type="unary"`
	moved := map[string]float64{
		`grpc_server_handled_total{grpc_code="OK",` + fmt.Sprintf(svc, "GetConnectionParams") + `}`:       4,
		`grpc_server_handled_total{grpc_code="NotFound",` + fmt.Sprintf(svc, "GetConnectionParams") + `}`: 1,
		`grpc_server_handling_seconds{` + fmt.Sprintf(svc, "GetConnectionParams") + `}_count`:             5,
		`grpc_server_handled_total{grpc_code="OK",` + fmt.Sprintf(svc, "ValidateConnection") + `}`:        1,
		`connbroker_credentials_issued_total{endpoint="orders",kind="iam-token"}`:                         3,
		`connbroker_credentials_issued_total{endpoint="reports",kind="password"}`:                         1,
		`connbroker_token_cache_requests_total{endpoint="orders",result="miss"}`:                          1,
		`connbroker_token_cache_requests_total{endpoint="orders",result="hit"}`:                           2,
		`connbroker_validations_total{endpoint="reports",finding="dial",outcome="failed"}`:                1,
		rejected: 1,
	}
	got := map[string]float64{}
	for k := range moved {
		got[k] = after[k] - before[k]
	}
	if diff := cmp.Diff(moved, got); diff != "" {
		t.Errorf("metric deltas (-want +got):\n%s", diff)
	}
	ttl := after[`connbroker_token_expiry_seconds{endpoint="orders"}`]
	if ttl < 14*60 || ttl > 15*60 {
		t.Errorf("token expiry = %vs, want about 900s", ttl)
	}
	for k := range after {
		if strings.Contains(k, "s3cret") || strings.Contains(k, "X-Amz") {
			t.Errorf("secret in a metric: %s", k)
		}
	}
}
