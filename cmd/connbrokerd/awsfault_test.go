package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// credsServer is a container-credentials endpoint (the one ECS/EKS Pod
// Identity use) on loopback, whose behaviour the test switches: it serves
// short-lived keys, fails with 500, or hangs.
type credsServer struct {
	mode atomic.Value // "ok", "fail", "hang"
	hits atomic.Int32
	url  string
}

func startCredsServer(t *testing.T) *credsServer {
	t.Helper()
	cs := &credsServer{}
	cs.mode.Store("ok")
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.hits.Add(1)
		switch cs.mode.Load() {
		case "fail":
			http.Error(w, `{"code":"InternalError","message":"credential source down"}`, http.StatusInternalServerError)
		case "hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			json.NewEncoder(w).Encode(map[string]string{
				"AccessKeyId": "ASIAFAULTTEST0000001", "SecretAccessKey": "fault-test-aws-secret", "Token": "fault-test-session",
				"Expiration": time.Now().Add(time.Second).UTC().Format(time.RFC3339),
			})
		}
	})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { close(release); srv.Close() })
	cs.url = "http://" + lis.Addr().String() + "/creds"
	return cs
}

// TestAWSCredentialSourceFaults runs the daemon with its AWS credentials
// from a container-credentials endpoint that then fails and hangs: a cached
// token still valid keeps being served, with a warning; an endpoint with
// no valid cached token gets UNAVAILABLE naming the cause; when the source
// comes back, fresh tokens flow again without a restart.
func TestAWSCredentialSourceFaults(t *testing.T) {
	cs := startCredsServer(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": cs.url, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "",
		"AWS_REGION": "us-west-2", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
iam: {refresh_after: 1s}
endpoints:
  orders:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
  billing:
    host: billing.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_billing
    auth: iam
`, addr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() { _, _, errOut := daemon(ctx, "--dev", "--config", cfg); done <- errOut }()
	var logs string
	t.Cleanup(func() { cancel(); logs = <-done })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := v1.NewBrokerServiceClient(conn)
	waitFor(t, "daemon SERVING", 15*time.Second, func() bool {
		r, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	get := func(endpoint string) (*v1.ConnectionParams, time.Duration, error) {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		r, err := cl.GetConnectionParams(c, &v1.GetConnectionParamsRequest{Endpoint: endpoint, Driver: "pymysql"})
		return r.GetParams(), time.Since(start), err
	}
	stale := func(p *v1.ConnectionParams) bool {
		return strings.Contains(strings.Join(p.GetHints().GetWarnings(), " "), "credential source is failing")
	}

	fresh, _, err := get("orders")
	if err != nil || stale(fresh) {
		t.Fatalf("healthy source: %v, stale=%v", err, stale(fresh))
	}
	token := fresh.GetCredential().GetSecret()

	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			cs.mode.Store(mode)
			time.Sleep(1200 * time.Millisecond) // past refresh_after and the AWS keys' expiry
			hits := cs.hits.Load()
			p, took, err := get("orders")
			if err != nil {
				t.Fatalf("cached token not served while the source is %s: %v", mode, err)
			}
			if p.GetCredential().GetSecret() != token || !stale(p) {
				t.Errorf("want the cached token with a stale warning; same=%v stale=%v", p.GetCredential().GetSecret() == token, stale(p))
			}
			if took > 3*time.Second {
				t.Errorf("serving the cached token took %v", took)
			}
			if cs.hits.Load() == hits {
				t.Errorf("the broker did not try the credential source")
			}
			if mode == "fail" {
				_, _, err := get("billing")
				if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "credential") {
					t.Errorf("no cached token: %v, want UNAVAILABLE naming the credential source", err)
				}
			}
		})
	}

	cs.mode.Store("ok")
	waitFor(t, "recovery", 15*time.Second, func() bool {
		p, _, err := get("orders")
		return err == nil && !stale(p) && p.GetCredential().GetSecret() != token
	})
	if _, _, err := get("billing"); err != nil {
		t.Errorf("billing after recovery: %v", err)
	}
	cancel()
	logs = <-done
	done <- logs
	if !strings.Contains(logs, "serving cached IAM token") {
		t.Errorf("no stale-token warning in the logs:\n%s", logs)
	}
	if strings.Contains(logs, "fault-test-aws-secret") || strings.Contains(logs, token) {
		t.Errorf("a secret appears in the logs")
	}
}
