package awsapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/awsapi/mototest"
)

func clients(m *mototest.Server) awsapi.Clients {
	return awsapi.NewClients(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials()}, m.URL)
}

func rdsClient(m *mototest.Server) *rds.Client {
	return rds.NewFromConfig(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials(), BaseEndpoint: aws.String(m.URL)})
}

// world is what the tests create in moto.
type world struct {
	instance, cluster, clusterReader, proxy, instanceID, clusterID string
}

func create(t *testing.T, m *mototest.Server) world {
	t.Helper()
	ctx := context.Background()
	r := rdsClient(m)
	var w world
	i, err := r.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("orders-db"), Engine: aws.String("mysql"),
		DBInstanceClass: aws.String("db.t3.micro"), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("password1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true)})
	if err != nil {
		t.Fatalf("create instance: %v", err)
	}
	w.instance, w.instanceID = aws.ToString(i.DBInstance.Endpoint.Address), aws.ToString(i.DBInstance.DbiResourceId)
	c, err := r.CreateDBCluster(ctx, &rds.CreateDBClusterInput{DBClusterIdentifier: aws.String("reports"), Engine: aws.String("aurora-mysql"),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("password1"), EnableIAMDatabaseAuthentication: aws.Bool(false)})
	if err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	w.cluster, w.clusterReader, w.clusterID = aws.ToString(c.DBCluster.Endpoint), aws.ToString(c.DBCluster.ReaderEndpoint), aws.ToString(c.DBCluster.DbClusterResourceId)
	p, err := r.CreateDBProxy(ctx, &rds.CreateDBProxyInput{DBProxyName: aws.String("orders-proxy"), EngineFamily: rdstypes.EngineFamilyMysql,
		RoleArn: aws.String("arn:aws:iam::123456789012:role/proxy"), VpcSubnetIds: []string{m.Subnet(t)}, RequireTLS: aws.Bool(true),
		Auth: []rdstypes.UserAuthConfig{{AuthScheme: rdstypes.AuthSchemeSecrets, IAMAuth: rdstypes.IAMAuthModeRequired,
			ClientPasswordAuthType: rdstypes.ClientPasswordAuthTypeMysqlCachingSha2Password,
			SecretArn:              aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:orders")}}})
	if err != nil {
		t.Fatalf("create proxy: %v", err)
	}
	w.proxy = aws.ToString(p.DBProxy.Endpoint)
	if _, err := r.RegisterDBProxyTargets(ctx, &rds.RegisterDBProxyTargetsInput{DBProxyName: aws.String("orders-proxy"), DBInstanceIdentifiers: []string{"orders-db"}}); err != nil {
		t.Fatalf("register targets: %v", err)
	}
	return w
}

// Every kind of resource is matched by its address (including the
// emulated DescribeDBProxyEndpoints and a custom name that fits no RDS
// pattern), and each fact comes from the API.
func TestLookupMatchesByAddress(t *testing.T) {
	m := mototest.Start(t)
	w := create(t, m)
	m.AddProxyEndpoint(mototest.ProxyEndpoint{Name: "ro", ProxyName: "orders-proxy", Endpoint: "orders-ro.db.example.internal"})
	src := awsapi.New(clients(m), awsapi.Options{})
	ctx := context.Background()

	f := src.Lookup(ctx, mototest.Region, strings.ToUpper(w.instance), 3306)
	if f.Err != nil || f.Kind != awsapi.KindInstance || f.ID != "orders-db" || !aws.ToBool(f.IAMAuthEnabled) || f.ResourceID != w.instanceID || f.Engine != "mysql" || f.CACertificate == "" {
		t.Errorf("instance: %+v", f)
	}
	f = src.Lookup(ctx, mototest.Region, w.clusterReader, 3306)
	if f.Err != nil || f.Kind != awsapi.KindCluster || f.ID != "reports" || f.IAMAuthEnabled == nil || *f.IAMAuthEnabled || f.ResourceID != w.clusterID {
		t.Errorf("cluster reader: %+v", f)
	}
	f = src.Lookup(ctx, mototest.Region, w.proxy, 3306)
	if f.Err != nil || f.Kind != awsapi.KindProxy || f.Proxy == nil {
		t.Fatalf("proxy: %+v", f)
	}
	p := f.Proxy
	if !p.IAMRequired() || !p.RequireTLS || p.EngineFamily != "MYSQL" || p.ClientPasswordAuthType() != "MYSQL_CACHING_SHA2_PASSWORD" || p.Auth[0].AuthScheme != "SECRETS" {
		t.Errorf("proxy settings: %+v", p)
	}
	if len(p.Targets) != 1 || p.Targets[0].ID != "orders-db" || p.TargetsErr != nil {
		t.Errorf("proxy targets: %+v (%v)", p.Targets, p.TargetsErr)
	}
	f = src.Lookup(ctx, mototest.Region, "orders-ro.db.example.internal", 3306)
	if f.Err != nil || f.Kind != awsapi.KindProxyEndpoint || f.ID != "orders-proxy" || f.Proxy == nil || !f.Proxy.IAMRequired() {
		t.Errorf("proxy endpoint: %+v", f)
	}
	if m.Emulated("DescribeDBProxyEndpoints") == 0 {
		t.Error("DescribeDBProxyEndpoints was not answered by the emulating front")
	}
	f = src.Lookup(ctx, mototest.Region, "nothing.example.internal", 3306)
	if f.Kind != "" || f.Err != nil {
		t.Errorf("unknown address: %+v", f)
	}
	// Cached: no call for a second lookup.
	n := src.Calls()
	src.Lookup(ctx, mototest.Region, w.proxy, 3306)
	if src.Calls() != n {
		t.Errorf("cached lookup made %d AWS calls", src.Calls()-n)
	}
}

// A throttled, denying or silent API yields an UnavailableError within
// the timeout, whose safe message names only the class of failure.
func TestLookupUnavailable(t *testing.T) {
	m := mototest.Start(t)
	for _, tc := range []struct{ fault, want string }{
		{mototest.FaultThrottle, "throttled"},
		{mototest.FaultDeny, "denied"},
		{mototest.FaultHang, "timed out"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			m.SetFault(tc.fault)
			src := awsapi.New(clients(m), awsapi.Options{Timeout: 500 * time.Millisecond})
			start := time.Now()
			f := src.Lookup(context.Background(), mototest.Region, "orders.proxy-abc.us-east-1.rds.amazonaws.com", 3306)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("lookup took %s with a 500ms timeout", d)
			}
			ue, ok := f.Err.(*awsapi.UnavailableError)
			if !ok {
				t.Fatalf("err = %#v, want *UnavailableError", f.Err)
			}
			msg := ue.SafeMessage()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "123456789012") || strings.Contains(msg, "arn:") {
				t.Errorf("safe message %q: want %q and no account or ARN", msg, tc.want)
			}
		})
	}
}

// SimulateConnect asks for the exact dbuser ARN (resource id, not the
// instance name) and, when that is denied, names a policy written for the
// identifier instead. The SimulatePrincipalPolicy answers are emulated
// (moto lacks the call).
func TestSimulateConnect(t *testing.T) {
	m := mototest.Start(t)
	w := create(t, m)
	src := awsapi.New(clients(m), awsapi.Options{})
	ctx := context.Background()
	f := src.Lookup(ctx, mototest.Region, w.instance, 3306)
	role := "arn:aws:iam::123456789012:role/app"

	s := src.SimulateConnect(ctx, f, role, "app")
	want := "arn:aws:rds-db:us-east-1:123456789012:dbuser:" + w.instanceID + "/app"
	if s.Err != nil || s.Resource != want || s.Allowed() || s.Decision != "implicitDeny" || len(s.AllowedFor) != 0 {
		t.Errorf("no policy: %+v", s)
	}
	m.Allow(role, "arn:aws:rds-db:us-east-1:123456789012:dbuser:orders-db/*")
	s = src.SimulateConnect(ctx, f, role, "app")
	if s.Allowed() || len(s.AllowedFor) != 1 || !strings.Contains(s.AllowedFor[0], "dbuser:orders-db/app") {
		t.Errorf("policy for the identifier: %+v", s)
	}
	m.Allow(role, "arn:aws:rds-db:us-east-1:123456789012:dbuser:"+w.instanceID+"/app")
	if s = src.SimulateConnect(ctx, f, role, "app"); !s.Allowed() {
		t.Errorf("policy for the resource id: %+v", s)
	}
	m.DenySimulation()
	s = src.SimulateConnect(ctx, f, role, "app")
	ue, ok := s.Err.(*awsapi.UnavailableError)
	if !ok || !strings.Contains(ue.SafeMessage(), "iam:SimulatePrincipalPolicy was denied") {
		t.Errorf("denied simulation: %+v", s)
	}
}
