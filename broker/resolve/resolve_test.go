package resolve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/resolve"
	"github.com/connbroker/connbroker/broker/validate"
	"github.com/connbroker/connbroker/internal/testbroker"
	"github.com/connbroker/connbroker/internal/testpeer/evil"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func TestDecide(t *testing.T) {
	pw := &config.PasswordSource{Env: "DB_PW"}
	proxy := "orders.proxy-abc123.cn-northwest-1.rds.amazonaws.com.cn"
	greeting := &handshake.Greeting{ServerVersion: "8.0.36", AuthPluginName: "caching_sha2_password", Capabilities: handshake.ClientSSL}
	tests := []struct {
		name    string
		ep      config.Endpoint
		facts   resolve.Facts
		method  config.AuthMethod
		plugin  string
		tls     bool
		sources []string
		err     error
	}{
		{"explicit iam", config.Endpoint{Host: proxy, Auth: config.AuthIAM, Plugin: "mysql_clear_password", Region: "cn-northwest-1"}, resolve.Facts{},
			config.AuthIAM, "mysql_clear_password", true, []string{"config", "hostname", "config"}, nil},
		{"explicit password, greeting fills the plugin", config.Endpoint{Host: "db.internal", Auth: config.AuthPassword, Password: pw}, resolve.Facts{Greeting: greeting},
			config.AuthPassword, "caching_sha2_password", false, []string{"config", "greeting"}, nil},
		{"auto: pam account is IAM", config.Endpoint{Host: "127.0.0.1", Auth: config.AuthAuto, Region: "us-east-1", User: "app"}, resolve.Facts{AccountPlugin: "pam"},
			config.AuthIAM, "mysql_clear_password", true, []string{"config", "account", "config"}, nil},
		{"auto: RDS IAM account", config.Endpoint{Host: proxy, Auth: config.AuthAuto, Region: "cn-northwest-1", User: "app"}, resolve.Facts{AccountPlugin: "AWSAuthenticationPlugin", Greeting: greeting},
			config.AuthIAM, "mysql_clear_password", true, []string{"config", "account", "hostname", "greeting", "config"}, nil},
		{"auto: ed25519 account with a password", config.Endpoint{Host: "db.internal", Auth: config.AuthAuto, Password: pw, User: "app"}, resolve.Facts{AccountPlugin: "ed25519"},
			config.AuthPassword, "client_ed25519", false, []string{"config", "account"}, nil},
		{"auto: RDS proxy name, no password, no account", config.Endpoint{Host: proxy, Auth: config.AuthAuto, Region: "cn-northwest-1"}, resolve.Facts{AccountErr: errors.New("no diagnostic account")},
			config.AuthIAM, "mysql_clear_password", true, []string{"config", "hostname", "account", "hostname", "config"}, nil},
		{"auto: a password and nothing else", config.Endpoint{Host: "db.internal", Auth: config.AuthAuto, Password: pw}, resolve.Facts{},
			config.AuthPassword, "", false, []string{"config", "config"}, nil},
		{"auto: nothing decides", config.Endpoint{Host: "db.internal", Auth: config.AuthAuto}, resolve.Facts{},
			"", "", false, nil, resolve.ErrUndecided},
		{"auto: password account without a password", config.Endpoint{Host: "db.internal", Auth: config.AuthAuto, User: "app"}, resolve.Facts{AccountPlugin: "mysql_native_password"},
			"", "", false, nil, resolve.ErrUndecided},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.ep.Name = "e"
			r, err := resolve.Decide(&tc.ep, tc.facts)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var src []string
			for _, e := range r.Evidence {
				src = append(src, e.Source)
			}
			got := []any{r.Method, r.Plugin, r.TLSRequired, src}
			if diff := cmp.Diff([]any{tc.method, tc.plugin, tc.tls, tc.sources}, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nevidence: %+v", diff, r.Evidence)
			}
		})
	}
}

// TestAutoAgainstMariaDB resolves auth: auto for real: a diagnostic account
// reads mysql.user on a private MariaDB; the PAM account resolves to IAM and
// the broker then logs in with a real IAM token.
func TestAutoAgainstMariaDB(t *testing.T) {
	iam := &mariadbtest.IAMOptions{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region}
	m := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: iam})
	if !m.IAMEnabled {
		t.Fatalf("the PAM IAM account is needed (run as root): %s", m.IAMDisabledReason)
	}
	db, err := m.RootDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE USER 'diag'@'%' IDENTIFIED BY 'diag-pw-5e1'", "GRANT SELECT ON mysql.user TO 'diag'@'%'"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	diagPW, nativePW := filepath.Join(dir, "diag"), filepath.Join(dir, "native")
	os.WriteFile(diagPW, []byte("diag-pw-5e1"), 0o600)
	os.WriteFile(nativePW, []byte(mariadbtest.NativePassword), 0o600)

	for _, tc := range []struct{ user, plugin string }{
		{mariadbtest.IAMUser, "pam"}, {mariadbtest.Ed25519User, "ed25519"}, {mariadbtest.NativeUser, "mysql_native_password"}, {"nobody", ""},
	} {
		ep := &config.Endpoint{Name: "x", Host: "127.0.0.1", Port: m.Port, User: tc.user, Diagnostic: &config.DiagnosticAccount{User: "diag"},
			TLS: config.EndpointTLS{Mode: config.TLSVerifyIdentity, CAPEM: m.CAPEM, ServerName: "127.0.0.1"}}
		got, err := resolve.AccountPlugin(context.Background(), ep, "diag-pw-5e1")
		if got != tc.plugin || (tc.plugin == "") != (err != nil) {
			t.Errorf("AccountPlugin(%s) = %q, %v; want %q", tc.user, got, err, tc.plugin)
		}
	}
	// Without verified TLS the login goes through the validator's guard,
	// which keeps an honest scramble login (and the server's own TLS).
	for _, mode := range []config.TLSMode{config.TLSDisabled, config.TLSRequired} {
		ep := &config.Endpoint{Name: "x", Host: "127.0.0.1", Port: m.Port, User: mariadbtest.Ed25519User, Diagnostic: &config.DiagnosticAccount{User: "diag"},
			TLS: config.EndpointTLS{Mode: mode}}
		if got, err := resolve.AccountPlugin(context.Background(), ep, "diag-pw-5e1"); got != "ed25519" || err != nil {
			t.Errorf("tls %s: AccountPlugin = %q, %v; want ed25519", mode, got, err)
		}
	}

	br := testbroker.Start(t, fmt.Sprintf(`endpoints:
  auto-iam:
    host: 127.0.0.1
    port: %[1]d
    user: %[2]s
    auth: auto
    region: us-east-1
    diagnostic: {user: diag, password: {file: %[3]s}}
    tls: {mode: verify-identity, ca: %[4]s}
  auto-native:
    host: 127.0.0.1
    port: %[1]d
    user: %[5]s
    auth: auto
    password: {file: %[6]s}
    diagnostic: {user: diag, password: {file: %[3]s}}
    tls: {mode: verify-identity, ca: %[4]s}
  ghost:
    host: 127.0.0.1
    port: %[1]d
    user: app_ghost
    auth: password
    password: {file: %[6]s}
    diagnostic: {user: diag, password: {file: %[3]s}}
    tls: {mode: verify-identity, ca: %[4]s}
`, m.Port, mariadbtest.IAMUser, diagPW, m.CAFile, mariadbtest.NativeUser, nativePW))
	ctx := context.Background()
	for _, tc := range []struct {
		endpoint string
		method   v1.AuthMethod
		plugin   string
		kind     v1.CredentialKind
	}{
		{"auto-iam", v1.AuthMethod_AUTH_METHOD_IAM, "mysql_clear_password", v1.CredentialKind_CREDENTIAL_KIND_IAM_TOKEN},
		{"auto-native", v1.AuthMethod_AUTH_METHOD_PASSWORD, "mysql_native_password", v1.CredentialKind_CREDENTIAL_KIND_PASSWORD},
	} {
		resp, err := br.Client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: tc.endpoint, Driver: "pymysql"})
		if err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		r := resp.GetParams().GetResolution()
		var ev []string
		for _, e := range r.GetEvidence() {
			ev = append(ev, e.GetSource().Label()+": "+e.GetDetail())
		}
		t.Logf("%s resolution: %s %s tls_required=%t\n  %s", tc.endpoint, r.GetMethod(), r.GetPlugin(), r.GetTlsRequired(), strings.Join(ev, "\n  "))
		if r.GetMethod() != tc.method || r.GetPlugin() != tc.plugin || resp.GetParams().GetCredential().GetKind() != tc.kind || !strings.Contains(strings.Join(ev, "|"), "account: ") {
			t.Errorf("%s: resolution %v, credential %v", tc.endpoint, r, resp.GetParams().GetCredential().GetKind())
		}
		v, err := br.Client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{tc.endpoint}})
		if err != nil || !v.GetOk() {
			t.Fatalf("%s: validate: %v %v", tc.endpoint, err, v)
		}
		if r := v.GetResults()[0].GetResolution(); r.GetMethod() != tc.method || r.GetPlugin() != tc.plugin {
			t.Errorf("%s: validation says %v %q, want %v %q", tc.endpoint, r.GetMethod(), r.GetPlugin(), tc.method, tc.plugin)
		}
	}

	// A user that does not exist: the diagnostic account says so.
	v, err := br.Client.ValidateConnection(ctx, &v1.ValidateConnectionRequest{Endpoints: []string{"ghost"}})
	if err != nil {
		t.Fatal(err)
	}
	r := v.GetResults()[0]
	if r.GetOk() || len(r.GetFindings()) == 0 || r.GetFindings()[0].GetCode() != "wrong-user" || !strings.Contains(r.GetFindings()[0].GetCause(), "app_ghost") {
		t.Errorf("ghost: ok=%t findings %v", r.GetOk(), r.GetFindings())
	}
}

// TestAccountPluginWithholdsThePassword logs in as the diagnostic account
// to servers that try to get its password without verified TLS and looks
// for the password byte for byte in everything they received.
func TestAccountPluginWithholdsThePassword(t *testing.T) {
	const diagPW = "diag-attack-pw-3c9a71e5"
	attacker := testpki.NewCA(t, "attacker")
	attackerTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{attacker.TLSCert(t, testpki.LoopbackServer())}}
	ca := testpki.NewCA(t, "resolve-attack-ca")
	peerTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.TLSCert(t, testpki.LoopbackServer())}}
	real := mysql8test.StartForTest(t, mysql8test.Options{TLS: peerTLS, CAPEM: ca.PEM, DefaultPlugin: mysql8test.PluginCachingSHA2,
		Accounts: []mysql8test.Account{{User: "diag", Plugin: mysql8test.PluginSHA256}}})
	for _, tc := range []struct {
		name string
		opts evil.Options
		mode config.TLSMode
	}{
		{"tls disabled, sha256_password with the attacker's RSA key", evil.Options{Mode: evil.SwitchSHA256}, config.TLSDisabled},
		{"tls disabled, caching_sha2 full auth with the attacker's RSA key", evil.Options{Mode: evil.CachingSHA2FullAuth}, config.TLSDisabled},
		{"tls preferred, no TLS, caching_sha2 full auth", evil.Options{Mode: evil.CachingSHA2FullAuth}, config.TLSPreferred},
		{"tls required (unverified), caching_sha2 full auth in clear", evil.Options{Mode: evil.CachingSHA2FullAuth, TLS: attackerTLS}, config.TLSRequired},
		{"tls required (unverified), sha256_password in clear", evil.Options{Mode: evil.SwitchSHA256, TLS: attackerTLS}, config.TLSRequired},
		{"tls preferred, TLS stripped in front of a real server", evil.Options{Upstream: real.Addr}, config.TLSPreferred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := evil.Start(t, tc.opts)
			_, port, _ := net.SplitHostPort(srv.Addr)
			p, _ := strconv.Atoi(port)
			ep := &config.Endpoint{Name: "x", Host: "127.0.0.1", Port: p, User: "app", Diagnostic: &config.DiagnosticAccount{User: "diag"},
				TLS: config.EndpointTLS{Mode: tc.mode}}
			got, err := resolve.AccountPlugin(t.Context(), ep, diagPW)
			if srv.Connections() == 0 {
				t.Fatal("the fake server saw no connection: the attack was not exercised")
			}
			if bytes.Contains(srv.Received(), []byte(diagPW)) {
				t.Errorf("the fake server received the diagnostic account's password")
			}
			if err == nil {
				t.Fatalf("AccountPlugin = %q, want an error", got)
			}
			if strings.Contains(err.Error(), diagPW) {
				t.Errorf("the error contains the password: %v", err)
			}
			if !errors.Is(err, validate.ErrSecretWithheld) {
				t.Errorf("error %v does not match ErrSecretWithheld", err)
			}
		})
	}
}
