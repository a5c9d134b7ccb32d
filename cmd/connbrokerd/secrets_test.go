package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// startMoto runs moto's AWS API server on loopback (mototest.Start: it
// skips under -short, fails when moto is missing) and returns its URL.
func startMoto(t *testing.T) string {
	t.Helper()
	return mototest.Start(t).MotoURL
}

// brokerConnector opens each new physical connection with params fetched
// from the broker, as an application's pool does.
type brokerConnector struct {
	cl       v1.BrokerServiceClient
	endpoint string
}

func (c brokerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	r, err := c.cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: c.endpoint, Driver: "go-sql-driver"})
	if err != nil {
		return nil, err
	}
	p := r.GetParams()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", net.JoinHostPort(p.GetHost(), fmt.Sprint(p.GetPort())), p.GetUser(), p.GetCredential().GetSecret()
	cfg.TLSConfig = "preferred"
	cn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return cn.Connect(ctx)
}

func (brokerConnector) Driver() driver.Driver { return mysql.MySQLDriver{} }

// motoEnv points the daemon's AWS SDK (Secrets Manager, STS) at moto with
// its fake key and no shared files or instance metadata.
func motoEnv(t *testing.T, motoURL string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": motoURL, "AWS_ENDPOINT_URL_STS": motoURL, "AWS_ACCESS_KEY_ID": "AKIDMOTO", "AWS_SECRET_ACCESS_KEY": "moto-secret",
		"AWS_REGION": "us-west-2", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
	} {
		t.Setenv(k, v)
	}
}

// noSecretsLogged stops the daemon (stop from serveDevLogged) and fails
// the test when one of secrets appears in its logs.
func noSecretsLogged(t *testing.T, stop func() string, secrets ...string) {
	t.Helper()
	logs := stop()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the daemon's logs")
		}
	}
}

// TestSecretsManagerRotation (and STS): the daemon reads an RDS-style secret from
// Secrets Manager (moto), a pool connects with it, the secret rotates
// (database first, then AWSCURRENT, as the rotation function does): the
// pool's open connections keep working, a validation hits 1045 with the
// cached value, re-reads at once and succeeds, and new pool connections
// get the new password.
func TestSecretsManagerRotation(t *testing.T) {
	motoURL := startMoto(t)
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	ctx := context.Background()
	sm := secretsmanager.New(secretsmanager.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", ""),
	})
	const secretName = "rds!db-connbroker-test"
	rdsJSON := func(pw string) *string {
		return aws.String(fmt.Sprintf(`{"username":%q,"password":%q,"engine":"mariadb","host":"127.0.0.1","port":%d}`, mariadbtest.NativeUser, pw, db.Port))
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: rdsJSON(mariadbtest.NativePassword)}); err != nil {
		t.Fatalf("create secret in moto: %v", err)
	}
	motoEnv(t, motoURL)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
endpoints:
  db:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    password: {secretsmanager: %q, secret_ttl: 1h}
    tls: {mode: verify-identity, ca: %s}
  assumed:
    host: orders.proxy-abc123.us-west-2.rds.amazonaws.com
    user: app_orders
    auth: iam
    role_arn: arn:aws:iam::123456789012:role/connbroker-orders
`, addr, db.Port, mariadbtest.NativeUser, secretName, db.CAFile))
	conn, stop := serveDevLogged(t, cfg, addr)
	defer noSecretsLogged(t, stop, mariadbtest.NativePassword, "rotated-pw-9a1f", "moto-secret")
	cl := v1.NewBrokerServiceClient(conn)
	p, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.GetParams().GetCredential(); c.GetSecret() != mariadbtest.NativePassword || c.GetSource() != "secretsmanager" { // L7: the kind only, never the ARN
		t.Fatalf("credential from Secrets Manager: source %q, right secret %v", c.GetSource(), c.GetSecret() == mariadbtest.NativePassword)
	}

	pool := sql.OpenDB(brokerConnector{cl: cl, endpoint: "db"})
	defer pool.Close()
	held := make([]*sql.Conn, 2)
	for i := range held {
		if held[i], err = pool.Conn(ctx); err != nil {
			t.Fatalf("pool connection %d: %v", i, err)
		}
		defer held[i].Close()
	}

	// Rotate: the database first, then AWSCURRENT.
	root, err := db.RootDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const rotated = "rotated-pw-9a1f"
	if _, err := root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mariadbtest.NativeUser, rotated)); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName), SecretString: rdsJSON(rotated)}); err != nil {
		t.Fatal(err)
	}
	for i, c := range held {
		var one int
		if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Errorf("open pool connection %d broke on rotation: %v", i, err)
		}
	}
	res, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"db"}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.GetResults()[0]
	var stages []string
	for _, s := range r.GetStages() {
		stages = append(stages, s.GetName().Label()+":"+s.GetError())
	}
	if !r.GetOk() || !strings.Contains(strings.Join(stages, ","), "re-read after 1045") {
		t.Fatalf("validation after rotation: ok=%v reason=%q stages=%v", r.GetOk(), r.GetReason(), stages)
	}
	fresh, err := pool.Conn(ctx)
	if err != nil {
		t.Fatalf("new pool connection after rotation: %v", err)
	}
	fresh.Close()
	p, err = cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "db"})
	if err != nil || p.GetParams().GetCredential().GetSecret() != rotated {
		t.Fatalf("params after rotation: %v, new secret %v", err, p.GetParams().GetCredential().GetSecret() == rotated)
	}

	// An endpoint with role_arn signs with credentials from STS AssumeRole
	// (moto), not with the broker's own key.
	a, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "assumed"})
	if err != nil {
		t.Fatalf("IAM endpoint with role_arn: %v", err)
	}
	tok := a.GetParams().GetCredential().GetSecret()
	q, err := url.ParseQuery(tok[strings.IndexByte(tok, '?')+1:])
	if err != nil {
		t.Fatal(err)
	}
	if cred := q.Get("X-Amz-Credential"); strings.HasPrefix(cred, "AKIDMOTO/") || !strings.HasPrefix(cred, "ASIA") || q.Get("X-Amz-Security-Token") == "" {
		t.Errorf("token not signed with assumed-role credentials: X-Amz-Credential=%q, session token present=%v", cred, q.Get("X-Amz-Security-Token") != "")
	}
}

// TestSecretsManagerPendingBridge: a rotation has set the new password in
// the database and written it as AWSPENDING, but AWSCURRENT still holds
// the old one (the window of aws-samples/aws-secrets-manager-rotation-lambdas#108).
// A client's login with the old value gets 1045 and it reports it: the
// broker finds AWSCURRENT unchanged, tries AWSPENDING with a real login,
// and hands it out, so the client's retry logs in. A pending value the
// database refuses (a rotation that has not set it yet) is never handed
// out, and the validation path bridges the same way.
func TestSecretsManagerPendingBridge(t *testing.T) {
	motoURL := startMoto(t)
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	ctx := context.Background()
	sm := secretsmanager.New(secretsmanager.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", ""),
	})
	const secretName = "rds!db-pending-test"
	rdsJSON := func(pw string) *string {
		return aws.String(fmt.Sprintf(`{"username":%q,"password":%q}`, mariadbtest.NativeUser, pw))
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: rdsJSON(mariadbtest.NativePassword)}); err != nil {
		t.Fatalf("create secret in moto: %v", err)
	}
	motoEnv(t, motoURL)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
endpoints:
  db:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    password: {secretsmanager: %q, secret_ttl: 1h}
    tls: {mode: verify-identity, ca: %s}
`, addr, db.Port, mariadbtest.NativeUser, secretName, db.CAFile))
	const pending, bogus = "pending-pw-77c2", "never-set-pw-0d1e"
	conn, stop := serveDevLogged(t, cfg, addr)
	defer noSecretsLogged(t, stop, mariadbtest.NativePassword, pending, bogus)
	cl := v1.NewBrokerServiceClient(conn)
	secret := func() string {
		t.Helper()
		p, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "db"})
		if err != nil {
			t.Fatal(err)
		}
		return p.GetParams().GetCredential().GetSecret()
	}
	login := func() error {
		pool := sql.OpenDB(brokerConnector{cl: cl, endpoint: "db"})
		defer pool.Close()
		return pool.PingContext(ctx)
	}
	putPending := func(pw string) {
		t.Helper()
		if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName), SecretString: rdsJSON(pw), VersionStages: []string{"AWSPENDING"}}); err != nil {
			t.Fatal(err)
		}
	}
	report := func() *v1.ReportLoginFailureResponse {
		t.Helper()
		r, err := cl.ReportLoginFailure(ctx, &v1.ReportLoginFailureRequest{Endpoint: "db", Driver: "go-sql-driver", MysqlErrno: 1045})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := login(); err != nil {
		t.Fatalf("login before the rotation: %v", err)
	}

	// No rotation in progress, a report re-reads and finds nothing new.
	if r := report(); !r.GetReread() || r.GetChanged() {
		t.Fatalf("report without a rotation: reread %v changed %v, want true false", r.GetReread(), r.GetChanged())
	}

	// A rotation that wrote AWSPENDING but has not set the database: the
	// pending value is refused by a real login and never handed out.
	putPending(bogus)
	time.Sleep(2100 * time.Millisecond) // one re-read per endpoint per broker.ReportInterval
	if r := report(); !r.GetReread() || r.GetChanged() {
		t.Fatalf("report with an unset AWSPENDING: reread %v changed %v, want true false", r.GetReread(), r.GetChanged())
	}
	if s := secret(); s != mariadbtest.NativePassword {
		t.Fatalf("an AWSPENDING value the database refuses was handed out (same as bogus: %v)", s == bogus)
	}

	// The rotation sets the database and AWSPENDING; AWSCURRENT not moved.
	root, err := db.RootDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mariadbtest.NativeUser, pending)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mariadbtest.NativeUser, mariadbtest.NativePassword))
	}()
	putPending(pending)
	var me *mysql.MySQLError
	if err := login(); !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("login with AWSCURRENT during the rotation: %v, want 1045", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if r := report(); !r.GetReread() || !r.GetChanged() {
		t.Fatalf("report during the rotation: reread %v changed %v, want true true", r.GetReread(), r.GetChanged())
	}
	if s := secret(); s != pending {
		t.Fatalf("params after the report do not hold the AWSPENDING value that logs in")
	}
	if err := login(); err != nil {
		t.Fatalf("the client's retry with fresh params: %v", err)
	}
	res, err := cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"db"}})
	if err != nil || !res.GetResults()[0].GetOk() {
		t.Fatalf("validation with the adopted value: %v %v", err, res.GetResults())
	}

	// A second rotation window, met by a validation (no report): the
	// adopted value and AWSCURRENT are both refused, AWSPENDING logs in.
	const pending2 = "pending-pw-2b90"
	if _, err := root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mariadbtest.NativeUser, pending2)); err != nil {
		t.Fatal(err)
	}
	putPending(pending2)
	res, err = cl.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"db"}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.GetResults()[0]
	var stages []string
	for _, s := range r.GetStages() {
		stages = append(stages, s.GetName().Label()+":"+s.GetError())
	}
	if !r.GetOk() || !strings.Contains(strings.Join(stages, ","), "AWSPENDING logs in") {
		t.Fatalf("validation during the second rotation: ok=%v reason=%q stages=%v", r.GetOk(), r.GetReason(), stages)
	}
	if s := secret(); s != pending2 {
		t.Fatalf("params after the validation do not hold the second AWSPENDING value")
	}
}
