package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"google.golang.org/grpc"
	grpcinsecure "google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// The daemon with aws.endpoint_url at moto: validating a static-password
// endpoint whose address is a moto RDS Proxy with IAMAuth REQUIRED (dialled
// at a local RDS-like peer) answers proxy-requires-iam as the verdict, from
// aws-api evidence.
func TestDaemonProxyRequiresIAM(t *testing.T) {
	m := mototest.Start(t)
	ctx := context.Background()
	r := rds.NewFromConfig(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials(), BaseEndpoint: aws.String(m.URL)})
	p, err := r.CreateDBProxy(ctx, &rds.CreateDBProxyInput{DBProxyName: aws.String("orders"), EngineFamily: rdstypes.EngineFamilyMysql,
		RoleArn: aws.String("arn:aws:iam::123456789012:role/proxy"), VpcSubnetIds: []string{m.Subnet(t)}, RequireTLS: aws.Bool(true),
		Auth: []rdstypes.UserAuthConfig{{AuthScheme: rdstypes.AuthSchemeSecrets, IAMAuth: rdstypes.IAMAuthModeRequired,
			SecretArn: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:orders")}}})
	if err != nil {
		t.Fatal(err)
	}
	host := aws.ToString(p.DBProxy.Endpoint)
	peer, err := rdslike.Start(ctx, rdslike.Options{TokenHost: host, IAMUsers: []string{"app"}, Region: mototest.Region,
		AccessKeyID: mototest.AccessKeyID, SecretAccessKey: mototest.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, peer.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("a-static-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": mototest.AccessKeyID, "AWS_SECRET_ACCESS_KEY": mototest.SecretAccessKey, "AWS_REGION": mototest.Region,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
aws: {endpoint_url: %q}
endpoints:
  orders:
    host: %s
    port: %d
    dial: 127.0.0.1:%d
    user: app
    aws_api: true
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s, server_name: localhost}
`, addr, m.URL, host, peer.Port, peer.Port, pwFile, ca))
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() { _, _, errOut := daemon(dctx, "--dev", "--config", cfg); done <- errOut }()
	defer func() {
		cancel()
		logs := <-done
		if strings.Contains(logs, "a-static-password") || strings.Contains(logs, mototest.SecretAccessKey) {
			t.Errorf("a secret appears in the daemon's logs")
		}
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpcinsecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := v1.NewBrokerServiceClient(conn)
	waitFor(t, "daemon SERVING", 15*time.Second, func() bool {
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	res, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	v := res.GetResults()[0]
	if v.GetOk() || !strings.HasPrefix(v.GetReason(), "proxy-requires-iam:") || !strings.Contains(v.GetReason(), "AWS API: Auth IAMAuth REQUIRED") {
		t.Fatalf("ok=%v reason %q: want the proxy-requires-iam verdict from aws-api evidence", v.GetOk(), v.GetReason())
	}
	if fs := v.GetFindings(); len(fs) == 0 || fs[0].GetCode() != "proxy-requires-iam" {
		t.Errorf("findings %v", fs)
	}
}
