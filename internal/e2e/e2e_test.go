// Package e2e tests the broker end to end: a real MariaDB (with a PAM
// account that verifies real SigV4 IAM tokens), the real gRPC server over a
// loopback socket, and real logins with go-sql-driver/mysql.
package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/internal/iamverify"
	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

var (
	db *mariadbtest.Server
	br *testbroker.Broker
)

// brokerConfig writes password files into dir and returns a broker config for s.
func brokerConfig(dir string, s *mariadbtest.Server) (string, error) {
	var werr error
	write := func(name, pw string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			werr = err
		}
		return p
	}
	ep := func(name, user, extra string) string {
		return fmt.Sprintf("  %s:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n%s", name, s.Port, user, mariadbtest.Database, extra)
	}
	verify := fmt.Sprintf("    tls: {mode: verify-identity, ca: %s}\n", s.CAFile)
	cfg := "endpoints:\n" +
		ep("native", mariadbtest.NativeUser, "    auth: password\n    password: {file: "+write("native", mariadbtest.NativePassword)+"}\n"+verify) +
		ep("native-plain", mariadbtest.NativeUser, "    auth: password\n    password: {env: E2E_NATIVE_PW}\n    tls: {mode: disabled}\n") +
		ep("tls-account", mariadbtest.TLSUser, "    auth: password\n    password: {file: "+write("tls", mariadbtest.TLSPassword)+"}\n"+verify) +
		ep("tls-account-plain", mariadbtest.TLSUser, "    auth: password\n    password: {file: "+write("tls2", mariadbtest.TLSPassword)+"}\n    tls: {mode: disabled}\n") +
		ep("ed25519", mariadbtest.Ed25519User, "    auth: password\n    plugin: client_ed25519\n    password: {file: "+write("ed", mariadbtest.Ed25519Password)+"}\n"+verify) +
		ep("wrong-password", mariadbtest.NativeUser, "    auth: password\n    password: {file: "+write("wrong", "not-the-password")+"}\n"+verify) +
		ep("iam", mariadbtest.IAMUser, "    auth: iam\n    region: "+testbroker.Region+"\n"+verify) +
		ep("iam-wrong-region", mariadbtest.IAMUser, "    auth: iam\n    region: eu-west-1\n"+verify) +
		ep("wrong-ca", mariadbtest.NativeUser, "    auth: password\n    password: {env: E2E_NATIVE_PW}\n    tls: {mode: verify-identity, ca: "+write("other-ca.pem", string(otherCA()))+"}\n")
	return cfg, werr
}

// TestMain starts one MariaDB and one broker for the package. A database
// that cannot start fails the run; it is skipped only under -short.
func TestMain(m *testing.M) {
	if testtier.SkipPackage("e2e", "mariadbd") {
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "connbroker-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Setenv("E2E_NATIVE_PW", mariadbtest.NativePassword)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err = mariadbtest.Start(ctx, mariadbtest.Options{
		Dir: filepath.Join(dir, "mariadb"),
		IAM: &mariadbtest.IAMOptions{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region, Host: "127.0.0.1"},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start MariaDB: %v\n", err)
		return 1
	}
	defer db.Stop()
	if !db.IAMEnabled {
		fmt.Fprintf(os.Stderr, "e2e: the IAM (PAM) account is required and could not be set up: %s\n", db.IAMDisabledReason)
		return 1
	}
	cfg, err := brokerConfig(dir, db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	var stop func()
	br, stop, err = testbroker.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start broker:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

func validate(t *testing.T, names ...string) []*v1.EndpointValidation {
	t.Helper()
	resp, err := br.Client.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{Endpoints: names})
	if err != nil {
		t.Fatalf("ValidateConnection(%v): %v", names, err)
	}
	return resp.GetResults()
}

func stageNames(r *v1.EndpointValidation) string {
	var s []string
	for _, st := range r.GetStages() {
		n := st.GetName().Label()
		if !st.GetOk() {
			n += "!"
		}
		s = append(s, n)
	}
	return strings.Join(s, ",")
}

func TestValidateSuccess(t *testing.T) {
	tests := []struct {
		endpoint, user, stages string
		tls                    bool
	}{
		{"native", "app_native@%", "credential,dial,tls,auth,query", true},
		{"native-plain", "app_native@%", "credential,dial,auth,query", false},
		{"tls-account", "app_tls@%", "credential,dial,tls,auth,query", true},
		{"ed25519", "app_ed25519@%", "credential,dial,tls,auth,query", true},
		{"iam", "app_iam@%", "credential,dial,tls,auth,query", true},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			r := validate(t, tt.endpoint)[0]
			if !r.GetOk() {
				t.Fatalf("not ok: %s (stages %s, error %v)", r.GetReason(), stageNames(r), r.GetError())
			}
			if r.GetCurrentUser() != tt.user || !strings.Contains(r.GetServerVersion(), "MariaDB") {
				t.Errorf("user %q version %q", r.GetCurrentUser(), r.GetServerVersion())
			}
			if got := stageNames(r); got != tt.stages {
				t.Errorf("stages = %s, want %s", got, tt.stages)
			}
			if tt.tls != (r.GetTls() != nil) || (tt.tls && (!strings.HasPrefix(r.GetTls().GetVersion(), "TLSv1.") || r.GetTls().GetCipher() == "")) {
				t.Errorf("tls = %v, want tls=%v", r.GetTls(), tt.tls)
			}
			for _, st := range r.GetStages() {
				if st.GetDuration() == nil {
					t.Errorf("stage %s has no duration", st.GetName())
				}
			}
		})
	}
}

func TestValidateFailures(t *testing.T) {
	tests := []struct {
		endpoint  string
		errNumber uint32
		stages    string
		reason    string
	}{
		// The reason is the verdict: the primary finding, "code: cause; fix: ...".
		{"wrong-password", 1045, "credential,dial,tls,auth!", "access-denied: "},
		{"tls-account-plain", 1045, "credential,dial,auth!", "server-requires-tls: "},
		{"iam-wrong-region", 1045, "credential,dial,tls,auth!", "access-denied: the server answered 1045 (28000) \"Access denied for user 'app_iam'@'127.0.0.1' (using password: NO)\": the server refused the IAM token"},
		{"wrong-ca", 0, "credential,dial,tls!", "ca-does-not-verify: "},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			r := validate(t, tt.endpoint)[0]
			if r.GetOk() {
				t.Fatal("validated, want failure")
			}
			if got := stageNames(r); got != tt.stages {
				t.Errorf("stages = %s, want %s", got, tt.stages)
			}
			if r.GetError().GetNumber() != tt.errNumber {
				t.Errorf("error = %v, want number %d", r.GetError(), tt.errNumber)
			}
			if tt.errNumber == 1045 && r.GetError().GetSqlState() != "28000" {
				t.Errorf("SQLSTATE = %q, want 28000", r.GetError().GetSqlState())
			}
			if !strings.HasPrefix(r.GetReason(), tt.reason) {
				t.Errorf("reason %q does not start with %q", r.GetReason(), tt.reason)
			}
		})
	}
	last := lastPAM(t)
	if !strings.Contains(last, "region") {
		t.Errorf("PAM checker did not log a region mismatch: %s", last)
	}
}

func lastPAM(t *testing.T) string {
	t.Helper()
	att, err := db.PAMAttempts()
	if err != nil || len(att) == 0 {
		t.Fatalf("PAM attempts: %v %v", att, err)
	}
	return fmt.Sprintf("%+v", att[len(att)-1])
}

// TestIAMTokenRefused proves the IAM path is real: the PAM checker verifies
// the SigV4 signature, the host, the region and the 15-minute window.
func TestIAMTokenRefused(t *testing.T) {
	resp, err := br.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "iam", Driver: "go-sql-driver"})
	if err != nil {
		t.Fatal(err)
	}
	token := resp.GetParams().GetCredential().GetSecret()
	login := func(secret string) error {
		cfg := db.Config(mariadbtest.IAMUser, secret, true)
		cfg.AllowCleartextPasswords = true
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return err
		}
		sdb := sql.OpenDB(c)
		defer sdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return sdb.PingContext(ctx)
	}
	if err := login(token); err != nil {
		t.Fatalf("the broker's token was refused: %v", err)
	}
	i := strings.Index(token, "X-Amz-Signature=") + len("X-Amz-Signature=")
	flip := map[byte]byte{'0': '1'}
	c := token[i]
	if r, ok := flip[c]; ok {
		c = r
	} else {
		c = '0'
	}
	tampered := token[:i] + string(c) + token[i+1:]
	for name, tc := range map[string]struct {
		secret string
		mutate func(*iamverify.PolicyFile)
		want   string
	}{
		"tampered": {tampered, nil, "signature"},
		"expired":  {token, func(p *iamverify.PolicyFile) { p.ClockOffset = "21m" }, "expired"},
		"future":   {token, func(p *iamverify.PolicyFile) { p.ClockOffset = "-10m" }, "future"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.mutate != nil {
				if err := db.SetIAMPolicy(tc.mutate); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					db.SetIAMPolicy(func(p *iamverify.PolicyFile) { p.ClockOffset = "" })
				})
			}
			err := login(tc.secret)
			if me, ok := err.(*mysql.MySQLError); !ok || me.Number != 1045 {
				t.Fatalf("login err = %v, want 1045", err)
			}
			if got := strings.ToLower(lastPAM(t)); !strings.Contains(got, tc.want) {
				t.Errorf("PAM log %s lacks %q", got, tc.want)
			}
		})
	}
	t.Run("expired via ValidateConnection", func(t *testing.T) {
		db.SetIAMPolicy(func(p *iamverify.PolicyFile) { p.ClockOffset = "21m" })
		defer db.SetIAMPolicy(func(p *iamverify.PolicyFile) { p.ClockOffset = "" })
		r := validate(t, "iam")[0]
		if r.GetOk() || r.GetError().GetNumber() != 1045 || !strings.Contains(r.GetReason(), "expired") {
			t.Errorf("validation of an expired token: ok=%v error=%v reason=%q", r.GetOk(), r.GetError(), r.GetReason())
		}
	})
}

// TestSecretsNeverLogged searches every byte the broker logged for the
// secrets it handed out.
func TestSecretsNeverLogged(t *testing.T) {
	validate(t, "native", "iam", "wrong-password")
	resp, err := br.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "iam", Driver: "pymysql"})
	if err != nil {
		t.Fatal(err)
	}
	logs := br.Logs.String()
	if logs == "" {
		t.Fatal("no logs captured")
	}
	for _, s := range []string{mariadbtest.NativePassword, "not-the-password", resp.GetParams().GetCredential().GetSecret(), testbroker.SecretAccessKey} {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the broker's logs")
		}
	}
}

// otherCA returns a self-signed CA that did not sign the server's certificate.
func otherCA() []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "unrelated CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
