package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestDiscoveryFromTags: discovery.aws in moto creates endpoints from
// tagged RDS resources: an IAM-enabled instance (validated for real: its
// host is dialled at an RDS-like peer that checks the SigV4 token), a
// cluster, and a proxy whose Auth requires IAM, each with user and
// database from tags. A tagged instance without a user tag, one whose
// name clashes with a configured endpoint, and an untagged one are left
// out (the configured endpoint is kept). `ListEndpoints` gives each
// endpoint's source, and a SIGHUP discovers a resource tagged since.
func TestDiscoveryFromTags(t *testing.T) {
	m := mototest.Start(t)
	ctx := context.Background()
	r := rds.NewFromConfig(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials(), BaseEndpoint: aws.String(m.URL)})
	tags := func(kv ...string) []rdstypes.Tag {
		var out []rdstypes.Tag
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, rdstypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		return out
	}
	instance := func(id string, iam bool, tg []rdstypes.Tag) string {
		t.Helper()
		out, err := r.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"),
			Engine: aws.String("mysql"), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("not-used-1234"), AllocatedStorage: aws.Int32(20),
			EnableIAMDatabaseAuthentication: aws.Bool(iam), Tags: tg})
		if err != nil {
			t.Fatalf("create instance %s: %v", id, err)
		}
		if out.DBInstance.Endpoint == nil {
			d, err := r.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
			if err != nil || len(d.DBInstances) == 0 || d.DBInstances[0].Endpoint == nil {
				t.Fatalf("instance %s has no endpoint: %v", id, err)
			}
			return aws.ToString(d.DBInstances[0].Endpoint.Address)
		}
		return aws.ToString(out.DBInstance.Endpoint.Address)
	}
	ordersHost := instance("orders-db", true, tags("connbroker", "orders", "connbroker:user", "app", "connbroker:database", "orders"))
	instance("nouser-db", true, tags("connbroker", "nouser"))
	instance("clash-db", true, tags("connbroker", "legacy", "connbroker:user", "app"))
	instance("untagged-db", true, nil)
	if _, err := r.CreateDBCluster(ctx, &rds.CreateDBClusterInput{DBClusterIdentifier: aws.String("reports-cluster"), Engine: aws.String("aurora-mysql"),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("not-used-1234"), EnableIAMDatabaseAuthentication: aws.Bool(true),
		Tags: tags("connbroker", "reports", "connbroker:user", "reporter")}); err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	if _, err := r.CreateDBProxy(ctx, &rds.CreateDBProxyInput{DBProxyName: aws.String("billing"), EngineFamily: rdstypes.EngineFamilyMysql,
		RoleArn: aws.String("arn:aws:iam::123456789012:role/proxy"), VpcSubnetIds: []string{m.Subnet(t)}, RequireTLS: aws.Bool(true),
		Auth: []rdstypes.UserAuthConfig{{AuthScheme: rdstypes.AuthSchemeSecrets, IAMAuth: rdstypes.IAMAuthModeRequired, SecretArn: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:billing")}},
		Tags: tags("connbroker", "billing", "connbroker:user", "biller")}); err != nil {
		t.Fatalf("create proxy: %v", err)
	}

	peer, err := rdslike.Start(ctx, rdslike.Options{TokenHost: ordersHost, TokenPort: 3306, IAMUsers: []string{"app"}, Region: mototest.Region,
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
discovery:
  aws:
    regions: [%s]
    tag: connbroker
    interval: 1h
    tls: {mode: verify-identity, ca: %s, server_name: localhost}
    dial: {"%s:3306": "127.0.0.1:%d"}
endpoints:
  legacy:
    host: 10.0.0.5
    user: legacy
    auth: password
    password: {env: LEGACY_PW}
    tls: {mode: disabled}
`, addr, m.URL, mototest.Region, ca, ordersHost, peer.Port))
	t.Setenv("LEGACY_PW", "legacy-pw")
	conn, stop := serveDevLogged(t, cfg, addr)
	cl := v1.NewBrokerServiceClient(conn)
	list := func() map[string]*v1.EndpointSummary {
		out := map[string]*v1.EndpointSummary{}
		r, err := cl.ListEndpoints(ctx, &v1.ListEndpointsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.GetEndpoints() {
			out[e.GetName()] = e
		}
		return out
	}
	var eps map[string]*v1.EndpointSummary
	waitFor(t, "discovered endpoints", 20*time.Second, func() bool { eps = list(); return len(eps) >= 4 })
	var names []string
	for n := range eps {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"billing", "legacy", "orders", "reports"}; !slices.Equal(names, want) {
		t.Fatalf("endpoints %v, want %v", names, want)
	}
	o := eps["orders"]
	if o.GetSource() != "aws-discovery" || o.GetHost() != ordersHost || o.GetUser() != "app" || o.GetDatabase() != "orders" || o.GetAuthMethod() != v1.AuthMethod_AUTH_METHOD_IAM {
		t.Errorf("orders: %v", o)
	}
	if l := eps["legacy"]; l.GetSource() != "config" || l.GetHost() != "10.0.0.5" {
		t.Errorf("configured legacy was replaced by the clashing discovered one: %v", l)
	}
	if b := eps["billing"]; b.GetAuthMethod() != v1.AuthMethod_AUTH_METHOD_IAM || b.GetUser() != "biller" {
		t.Errorf("proxy with IAMAuth REQUIRED: %v", b)
	}
	if rp := eps["reports"]; rp.GetUser() != "reporter" || rp.GetAuthMethod() != v1.AuthMethod_AUTH_METHOD_IAM {
		t.Errorf("cluster: %v", rp)
	}

	// The discovered IAM instance logs in for real (token for its host,
	// dialled at the peer).
	res, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.GetResults()[0]; !v.GetOk() {
		t.Fatalf("validate discovered orders: %s", v.GetReason())
	}

	// Tag a new instance; SIGHUP discovers it.
	instance("late-db", true, tags("connbroker", "late", "connbroker:user", "app"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance tagged after start, after SIGHUP", 20*time.Second, func() bool { _, ok := list()["late"]; return ok })

	logs := stop()
	for _, want := range []string{"nouser-db", "no connbroker:user tag", "has the name of a configured endpoint"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the daemon's log does not report %q", want)
		}
	}
	if strings.Contains(logs, mototest.SecretAccessKey) {
		t.Error("a secret appears in the daemon's logs")
	}
}
