package goclient_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/connbroker/connbroker/broker/awsapi/mototest"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// startMoto runs moto's AWS API server on loopback (mototest.Start: it
// skips under -short, fails when moto is missing) and returns its URL.
func startMoto(t *testing.T) string {
	t.Helper()
	return mototest.Start(t).MotoURL
}

// TestRotationMidPool: a database/sql pool opens a new connection every
// 20 ms while the password rotates in moto's Secrets Manager (AWSCURRENT
// moves, then the database changes) and the broker still caches the old
// value (secret_ttl 1h). The first login refused with 1045 is reported
// (ReportLoginFailure), the broker re-reads the secret, and the helper's
// retry logs in: 0 failed logins.
func TestRotationMidPool(t *testing.T) {
	motoURL := startMoto(t)
	srv := mariadbtest.StartForTest(t, mariadbtest.Options{})
	ctx := context.Background()
	root, err := srv.RootDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const user, pass1, pass2 = "rot_app", "rot-pass-1", "rot-pass-2"
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s')", user, pass1),
		fmt.Sprintf("GRANT USAGE ON *.* TO '%s'@'%%'", user),
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", strings.SplitN(q, " IDENTIFIED", 2)[0], err)
		}
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-west-2", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")})
	secret := func(pw string) *string {
		return aws.String(fmt.Sprintf(`{"username":%q,"password":%q,"engine":"mariadb","host":"127.0.0.1","port":%d}`, user, pw, srv.Port))
	}
	const name = "rds!db-rotation-mid-pool"
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: secret(pass1)}); err != nil {
		t.Fatalf("create secret in moto: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "connbroker.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `endpoints:
  db:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    plugin: mysql_native_password
    password: {secretsmanager: %q, secret_ttl: 1h}
    tls: {mode: disabled}
`, srv.Port, user, name), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBrokerProc(t, buildBroker(t), cfg, net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t))))
	b.env = []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + motoURL, "AWS_ACCESS_KEY_ID=AKIDMOTO", "AWS_SECRET_ACCESS_KEY=moto-secret",
		"AWS_REGION=us-west-2", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	b.start()

	c := dial(t, b.listen)
	db := sql.OpenDB(connbroker.Connector(c, "db", connbroker.WithCallTimeout(2*time.Second)))
	db.SetMaxIdleConns(0) // every login is a new physical connection
	defer db.Close()
	var logins, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := loginAs(ctx, db, user); err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				logins.Add(1)
			}
		}
	})
	time.Sleep(500 * time.Millisecond)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: secret(pass2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", user, pass2)); err != nil {
		t.Fatal(err)
	}
	before := logins.Load()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d logins failed; first: %v", failures.Load(), failures.Load()+logins.Load(), firstErr.Load())
	}
	if logins.Load()-before < 10 {
		t.Errorf("only %d logins after the rotation", logins.Load()-before)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "login failure reported") {
		t.Errorf("the broker got no ReportLoginFailure:\n%s", logs)
	} else if strings.Contains(logs, pass1) || strings.Contains(logs, pass2) {
		t.Error("a password appears in the broker's logs")
	}
	t.Logf("%d logins, %d after the rotation", logins.Load(), logins.Load()-before)
}

// TestPendingRotationMidPool: the other order of a rotation, the window of
// aws-samples/aws-secrets-manager-rotation-lambdas#108: the rotation
// writes AWSPENDING and sets the database, and AWSCURRENT moves only a
// second later, while a database/sql pool opens a new connection every
// 20 ms and the broker caches the old value (secret_ttl 1h). The first
// login refused with 1045 is reported; the broker finds AWSCURRENT
// unchanged, tries AWSPENDING with a real login and hands it out, and the
// helper's retry logs in: 0 failed logins, before and after AWSCURRENT
// moves.
func TestPendingRotationMidPool(t *testing.T) {
	motoURL := startMoto(t)
	srv := mariadbtest.StartForTest(t, mariadbtest.Options{})
	ctx := context.Background()
	root, err := srv.RootDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const user, pass1, pass2 = "pend_app", "pend-pass-1", "pend-pass-2"
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s')", user, pass1),
		fmt.Sprintf("GRANT USAGE ON *.* TO '%s'@'%%'", user),
	} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", strings.SplitN(q, " IDENTIFIED", 2)[0], err)
		}
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-west-2", BaseEndpoint: aws.String(motoURL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDMOTO", "moto-secret", "")})
	secret := func(pw string) *string {
		return aws.String(fmt.Sprintf(`{"username":%q,"password":%q,"engine":"mariadb","host":"127.0.0.1","port":%d}`, user, pw, srv.Port))
	}
	const name = "rds!db-pending-rotation-mid-pool"
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: secret(pass1)})
	if err != nil {
		t.Fatalf("create secret in moto: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "connbroker.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `endpoints:
  db:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    plugin: mysql_native_password
    password: {secretsmanager: %q, secret_ttl: 1h}
    tls: {mode: disabled}
`, srv.Port, user, name), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBrokerProc(t, buildBroker(t), cfg, net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t))))
	b.env = []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + motoURL, "AWS_ACCESS_KEY_ID=AKIDMOTO", "AWS_SECRET_ACCESS_KEY=moto-secret",
		"AWS_REGION=us-west-2", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	b.start()
	c := dial(t, b.listen)
	db := sql.OpenDB(connbroker.Connector(c, "db", connbroker.WithCallTimeout(2*time.Second)))
	db.SetMaxIdleConns(0) // every login is a new physical connection
	defer db.Close()
	var logins, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := loginAs(ctx, db, user); err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				logins.Add(1)
			}
		}
	})
	time.Sleep(500 * time.Millisecond)
	// createSecret and setSecret of the rotation: AWSPENDING, then the
	// database; AWSCURRENT still holds pass1.
	pending, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: secret(pass2), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.ExecContext(ctx, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", user, pass2)); err != nil {
		t.Fatal(err)
	}
	before := logins.Load()
	time.Sleep(time.Second)
	inWindow := logins.Load() - before
	// finishSecret: AWSCURRENT moves to the pending version.
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: pending.VersionId, RemoveFromVersionId: created.VersionId}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d logins failed; first: %v", failures.Load(), failures.Load()+logins.Load(), firstErr.Load())
	}
	if inWindow < 10 {
		t.Errorf("only %d logins between setSecret and finishSecret", inWindow)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "login failure reported") || !strings.Contains(logs, "AWSPENDING logs in") {
		t.Errorf("the broker did not bridge with AWSPENDING:\n%s", logs)
	} else if strings.Contains(logs, pass1) || strings.Contains(logs, pass2) {
		t.Error("a password appears in the broker's logs")
	}
	t.Logf("%d logins, %d between setSecret and finishSecret", logins.Load(), inWindow)
}
