package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/validate"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

// awsWorld is moto's RDS resources, whose addresses the endpoints dial at
// local RDS-like peers.
type awsWorld struct {
	m                                                *mototest.Server
	ordersProxy, shopProxy, instance, cluster, dbiID string
	ordersPeer, shopPeer, plainPeer                  *rdslike.Endpoint
	ca                                               string
}

const motoCaller = "arn:aws:sts::123456789012:user/moto" // moto's GetCallerIdentity

func startAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	ctx := t.Context()
	w := &awsWorld{m: mototest.Start(t)}
	r := rds.NewFromConfig(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials(), BaseEndpoint: aws.String(w.m.URL)})
	subnet := w.m.Subnet(t)
	proxy := func(name string, iamAuth rdstypes.IAMAuthMode, tls bool) string {
		p, err := r.CreateDBProxy(ctx, &rds.CreateDBProxyInput{DBProxyName: aws.String(name), EngineFamily: rdstypes.EngineFamilyMysql,
			RoleArn: aws.String("arn:aws:iam::123456789012:role/proxy"), VpcSubnetIds: []string{subnet}, RequireTLS: aws.Bool(tls),
			Auth: []rdstypes.UserAuthConfig{{AuthScheme: rdstypes.AuthSchemeSecrets, IAMAuth: iamAuth,
				ClientPasswordAuthType: rdstypes.ClientPasswordAuthTypeMysqlCachingSha2Password,
				SecretArn:              aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name)}}})
		if err != nil {
			t.Fatalf("create proxy %s: %v", name, err)
		}
		return aws.ToString(p.DBProxy.Endpoint)
	}
	w.ordersProxy = proxy("orders-proxy", rdstypes.IAMAuthModeRequired, true)
	w.shopProxy = proxy("shop-proxy", rdstypes.IAMAuthModeDisabled, false)
	i, err := r.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("orders-db"), Engine: aws.String("mysql"),
		DBInstanceClass: aws.String("db.t3.micro"), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("password1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	w.instance, w.dbiID = aws.ToString(i.DBInstance.Endpoint.Address), aws.ToString(i.DBInstance.DbiResourceId)
	c, err := r.CreateDBCluster(ctx, &rds.CreateDBClusterInput{DBClusterIdentifier: aws.String("reports"), Engine: aws.String("aurora-mysql"),
		MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("password1"), EnableIAMDatabaseAuthentication: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	w.cluster = aws.ToString(c.DBCluster.Endpoint)
	for _, name := range []string{"orders-proxy", "shop-proxy"} {
		if _, err := r.RegisterDBProxyTargets(ctx, &rds.RegisterDBProxyTargetsInput{DBProxyName: aws.String(name), DBInstanceIdentifiers: []string{"orders-db"}}); err != nil {
			t.Fatal(err)
		}
	}
	peer := func(o rdslike.Options) *rdslike.Endpoint {
		o.AccessKeyID, o.SecretAccessKey, o.Region = mototest.AccessKeyID, mototest.SecretAccessKey, mototest.Region
		e, err := rdslike.Start(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	// The orders proxy: IAM only, TLS only, as the moto proxy says.
	w.ordersPeer = peer(rdslike.Options{TokenHost: w.ordersProxy, IAMUsers: []string{"app"}})
	// The shop proxy greets with caching_sha2_password (its
	// ClientPasswordAuthType) and takes passwords.
	w.shopPeer = peer(rdslike.Options{Passwords: map[string]string{"shop": "shop-pw"}, DefaultPlugin: "caching_sha2_password"})
	// A database without IAM accounts (IAM is off there, or the user is not
	// IAM-enabled): every token is refused.
	w.plainPeer = peer(rdslike.Options{Passwords: map[string]string{"other": "other-pw"}})
	return w
}

// endpoint is one endpoint's YAML: host is an address moto describes, dial
// a local peer.
func (w *awsWorld) endpoint(name, host string, p *rdslike.Endpoint, user, extra string) string {
	// moto's names do not follow RDS's shapes (db-proxy-XXXX for a proxy):
	// aws_api is set (and region, for IAM), as for a custom DNS name; the
	// source asks the default region for password endpoints.
	region := ""
	if !strings.Contains(extra, "auth: password") {
		region = "    region: " + mototest.Region + "\n"
	}
	return fmt.Sprintf("  %s:\n    host: %s\n    port: %d\n    dial: 127.0.0.1:%d\n    user: %s\n%s    aws_api: true\n%s", name, host, p.Port, p.Port, user, region, extra)
}

func (w *awsWorld) service(t *testing.T, yaml string, o awsapi.Options) (*Service, *awsapi.Source) {
	t.Helper()
	cfg, err := config.Parse("aws", []byte("endpoints:\n"+yaml))
	if err != nil {
		t.Fatal(err)
	}
	pw := credential.NewPasswords(func(name string) (string, bool) {
		return map[string]string{"ORDERS_PW": "a-static-password", "SHOP_PW": "shop-pw"}[name], true
	})
	svc := New(cfg, &credential.Router{Password: pw, IAM: credential.NewIAM(mototest.Credentials())}, nil)
	o.Region = mototest.Region
	src := awsapi.New(awsapi.NewClients(aws.Config{Region: mototest.Region, Credentials: mototest.Credentials()}, w.m.URL), o)
	svc.SetAWS(src)
	return svc, src
}

// tlsYAML verifies p's certificate (each peer has its own CA).
func (w *awsWorld) tlsYAML(t *testing.T, p *rdslike.Endpoint) string {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, p.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("    tls: {mode: verify-identity, ca: %s, server_name: localhost}\n", ca)
}

func validateOne(t *testing.T, svc *Service, name string) validate.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := svc.Validate(ctx, ValidateRequest{Endpoints: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func findingOf(fs []diagnose.Finding, code string) (diagnose.Finding, bool) {
	for _, f := range fs {
		if f.Code == code {
			return f, true
		}
	}
	return diagnose.Finding{}, false
}

// TestAWSFindings reproduces every AWS API finding with moto's answers
// (and the emulated calls moto lacks: mototest) about addresses dialled at
// local peers.
func TestAWSFindings(t *testing.T) {
	w := startAWSWorld(t)
	seen := map[string]bool{}
	cases := []struct {
		name, yaml, code, primary string
		failed                    bool
		setup                     func()
	}{{
		// A static password to the proxy with IAMAuth REQUIRED: the verdict
		// is the AWS fact, not the clear-text switch it causes.
		name: "proxy-requires-iam", code: diagnose.CodeProxyRequiresIAM, primary: diagnose.CodeProxyRequiresIAM, failed: true,
		yaml: w.endpoint("orders", w.ordersProxy, w.ordersPeer, "app", "    auth: password\n    password: {env: ORDERS_PW}\n"+w.tlsYAML(t, w.ordersPeer)),
	}, {
		name: "proxy-requires-tls", code: diagnose.CodeProxyRequiresTLS, failed: true,
		yaml: w.endpoint("orders", w.ordersProxy, w.ordersPeer, "app", "    auth: password\n    password: {env: ORDERS_PW}\n    tls: {mode: disabled}\n"),
	}, {
		// The endpoint assumes native; the shop proxy asks for
		// caching_sha2_password. The login works (the driver follows the
		// switch): a warning.
		name: "proxy-client-auth-type", code: diagnose.CodeProxyClientAuthType,
		yaml: w.endpoint("shop", w.shopProxy, w.shopPeer, "shop", "    auth: password\n    plugin: mysql_native_password\n    password: {env: SHOP_PW}\n"+w.tlsYAML(t, w.shopPeer)),
	}, {
		name: "proxy-target-unhealthy", code: diagnose.CodeProxyTargetUnhealthy,
		yaml: w.endpoint("shop", w.shopProxy, w.shopPeer, "shop", "    auth: password\n    password: {env: SHOP_PW}\n"+w.tlsYAML(t, w.shopPeer)),
		setup: func() {
			w.m.SetTargets("shop-proxy", []mototest.Target{{ID: "orders-db", Endpoint: w.instance, State: "UNAVAILABLE", Reason: "AUTH_FAILURE", Description: "the proxy's secret does not log in"}})
		},
	}, {
		name: "iam-auth-disabled", code: diagnose.CodeIAMAuthDisabled, primary: diagnose.CodeIAMAuthDisabled, failed: true,
		yaml: w.endpoint("reports", w.cluster, w.plainPeer, "app", "    auth: iam\n"+w.tlsYAML(t, w.plainPeer)),
	}, {
		name: "iam-policy-denies-connect", code: diagnose.CodeIAMPolicyDeniesConnect, primary: diagnose.CodeIAMPolicyDeniesConnect, failed: true,
		yaml: w.endpoint("ordersdb", w.instance, w.plainPeer, "app", "    auth: iam\n"+w.tlsYAML(t, w.plainPeer)),
	}, {
		name: "resource-id-mismatch", code: diagnose.CodeResourceIDMismatch, primary: diagnose.CodeResourceIDMismatch, failed: true,
		yaml:  w.endpoint("ordersdb", w.instance, w.plainPeer, "app", "    auth: iam\n"+w.tlsYAML(t, w.plainPeer)),
		setup: func() { w.m.Allow(motoCaller, "arn:aws:rds-db:us-east-1:123456789012:dbuser:orders-db/*") },
	}, {
		name: "aws-evidence-unavailable (simulation denied)", code: diagnose.CodeAWSEvidenceUnavailable, failed: true,
		yaml:  w.endpoint("ordersdb", w.instance, w.plainPeer, "app", "    auth: iam\n"+w.tlsYAML(t, w.plainPeer)),
		setup: func() { w.m.DenySimulation() },
	}, {
		name: "aws-evidence-unavailable (throttled)", code: diagnose.CodeAWSEvidenceUnavailable, failed: true,
		yaml:  w.endpoint("orders", w.ordersProxy, w.ordersPeer, "app", "    auth: password\n    password: {env: ORDERS_PW}\n"+w.tlsYAML(t, w.ordersPeer)),
		setup: func() { w.m.SetFault(mototest.FaultThrottle) },
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			t.Cleanup(func() { w.m.SetFault(mototest.FaultNone) })
			svc, _ := w.service(t, tc.yaml, awsapi.Options{})
			name := strings.TrimSpace(strings.SplitN(tc.yaml, ":", 2)[0])
			r := validateOne(t, svc, name)
			if r.OK == tc.failed {
				t.Errorf("ok = %t (%s), want %t", r.OK, r.Reason, !tc.failed)
			}
			f, ok := findingOf(r.Findings, tc.code)
			if !ok {
				t.Fatalf("no %s among %+v", tc.code, r.Findings)
			}
			seen[tc.code] = true
			if f.Cause == "" || f.Fix == "" {
				t.Errorf("%s without cause or fix: %+v", tc.code, f)
			}
			if tc.primary != "" {
				if p, _ := diagnose.Primary(r.Findings); p.Code != tc.primary || !strings.HasPrefix(r.Reason, tc.primary+":") {
					t.Errorf("primary finding %s (reason %q), want %s", p.Code, r.Reason, tc.primary)
				}
			}
			if strings.Contains(r.Reason+fmt.Sprint(r.Findings), "a-static-password") {
				t.Fatal("the password leaked into the findings")
			}
			t.Logf("%s: %s", f.Code, f.Cause)
		})
	}
	for _, c := range diagnose.AWSCodes {
		if !seen[c] {
			t.Errorf("AWS finding %s is not reproduced", c)
		}
	}
}

// TestAWSAutoResolvesIAM: auth: auto on the moto proxy with IAMAuth
// REQUIRED resolves to IAM from aws-api evidence, although a password is
// configured (which alone would mean password), with TLS required; the
// token then logs in at the peer. A second GetConnectionParams makes no
// AWS call.
func TestAWSAutoResolvesIAM(t *testing.T) {
	w := startAWSWorld(t)
	svc, src := w.service(t, w.endpoint("orders", w.ordersProxy, w.ordersPeer, "app", "    auth: auto\n    password: {env: ORDERS_PW}\n"+w.tlsYAML(t, w.ordersPeer))+
		w.endpoint("shop", w.shopProxy, w.shopPeer, "shop", "    auth: auto\n    password: {env: SHOP_PW}\n"+w.tlsYAML(t, w.shopPeer)), awsapi.Options{})
	ctx := t.Context()
	p, err := svc.Params(ctx, "orders", "go")
	if err != nil {
		t.Fatal(err)
	}
	res := p.Resolution
	awsRow := false
	for _, e := range res.Evidence {
		if e.Source == "aws-api" && strings.Contains(e.Detail, "requires IAM") {
			awsRow = true
		}
	}
	if res.Method != config.AuthIAM || !res.TLSRequired || !awsRow {
		t.Fatalf("resolution %+v: want iam from aws-api evidence, TLS required", res)
	}
	if r := validateOne(t, svc, "orders"); !r.OK {
		t.Errorf("the IAM login through the resolved endpoint failed: %s", r.Reason)
	}
	// ClientPasswordAuthType gives the plugin of a password proxy.
	ps, err := svc.Params(ctx, "shop", "go")
	if err != nil {
		t.Fatal(err)
	}
	if ps.Resolution.Method != config.AuthPassword || ps.Resolution.Plugin != "caching_sha2_password" {
		t.Errorf("shop resolution %+v: want password with caching_sha2_password from ClientPasswordAuthType", ps.Resolution)
	}
	n := src.Calls()
	for range 5 {
		if _, err := svc.Params(ctx, "orders", "go"); err != nil {
			t.Fatal(err)
		}
	}
	if d := src.Calls() - n; d != 0 {
		t.Errorf("cached GetConnectionParams made %d AWS calls", d)
	}
}

// TestAWSUnavailableLeavesLoginAlone: a silent AWS API costs auth: auto at
// most the source's timeout, the resolution says the API was not read and
// falls back to the other evidence; explicit endpoints never call AWS.
func TestAWSUnavailableLeavesLoginAlone(t *testing.T) {
	w := startAWSWorld(t)
	w.m.SetFault(mototest.FaultHang)
	// An RDS-shaped name: on by default, region parsed.
	host := "orders.proxy-abc123def456.us-east-1.rds.amazonaws.com"
	ep := func(name, auth string) string {
		return fmt.Sprintf("  %s:\n    host: %s\n    port: %d\n    dial: 127.0.0.1:%d\n    user: app\n    auth: %s\n%s", name, host, w.ordersPeer.Port, w.ordersPeer.Port, auth, w.tlsYAML(t, w.ordersPeer))
	}
	svc, src := w.service(t, ep("orders", "auto")+ep("static", "iam"), awsapi.Options{Timeout: 300 * time.Millisecond})
	ctx := t.Context()
	if _, err := svc.Params(ctx, "static", "go"); err != nil || src.Calls() != 0 {
		t.Fatalf("explicit endpoint: err %v, %d AWS calls", err, src.Calls())
	}
	start := time.Now()
	p, err := svc.Params(ctx, "orders", "go")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("auth: auto took %s with a 300ms AWS timeout", d)
	}
	found := false
	for _, e := range p.Resolution.Evidence {
		found = found || e.Source == "aws-api" && strings.Contains(e.Detail, "timed out")
	}
	if p.Resolution.Method != config.AuthIAM || !found {
		t.Errorf("resolution %+v: want iam from the host name and an aws-api row saying it timed out", p.Resolution)
	}
}
