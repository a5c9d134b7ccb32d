package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpeer/evil"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testpki"
)

// attackPassword is long and unique, so a byte search cannot miss it.
const attackPassword = "attack-password-6b1f0e2d9c"

// fixedIssuer hands out one credential per kind: a real-format SigV4 IAM
// token for iam endpoints, attackPassword otherwise.
type fixedIssuer struct{ token string }

func (f fixedIssuer) Issue(_ context.Context, ep *config.Endpoint) (credential.Credential, error) {
	if ep.Auth == config.AuthIAM {
		return credential.Credential{Kind: credential.KindIAMToken, Secret: credential.NewSecret(f.token), Source: "iam"}, nil
	}
	return credential.Credential{Kind: credential.KindPassword, Secret: credential.NewSecret(attackPassword), Source: "test"}, nil
}

func realFormatToken(t *testing.T, addr string) string {
	t.Helper()
	tok, err := auth.BuildAuthToken(t.Context(), addr, "us-east-1", "app_iam",
		credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tok, "X-Amz-Signature=") {
		t.Fatalf("not a SigV4 token: %d bytes", len(tok))
	}
	return tok
}

// TestSecretNeverLeavesUnverified runs ValidateConnection with
// compare_drivers (the validator, the go-sql-driver replay and every driver
// profile) against servers that try to get the secret without verified TLS,
// and looks for the secret byte for byte in everything they received.
func TestSecretNeverLeavesUnverified(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "attack-test-ca")
	caFile := ca.WriteCA(t, dir, "ca")
	// The attacker's own certificate: not signed by the endpoint's CA.
	attacker := testpki.NewCA(t, "attacker")
	attackerTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{attacker.TLSCert(t, testpki.LoopbackServer())}}

	// A real MySQL-8 protocol peer with an IAM-like clear-text account
	// and TLS, for the TLS-stripping man in the middle.
	peerTLS := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.TLSCert(t, testpki.LoopbackServer())}}
	real := mysql8test.StartForTest(t, mysql8test.Options{TLS: peerTLS, CAPEM: ca.PEM, DefaultPlugin: mysql8test.PluginNative,
		Accounts:                     []mysql8test.Account{{User: "app_iam", Plugin: mysql8test.PluginClearPassword}},
		ClearPasswordVerifier:        func(_, _ string, _ bool) error { return fmt.Errorf("refused") },
		AllowClearPasswordWithoutTLS: true,
	})

	cases := []struct {
		name string
		opts evil.Options
		auth string // iam or password
		tls  string // the endpoint's tls section
		plug string // the endpoint's plugin, if any
	}{
		{"IAM, verify-identity, server offers no TLS, asks for clear text", evil.Options{Mode: evil.SwitchClearText}, "iam",
			"{mode: verify-identity, ca: " + caFile + "}", ""},
		{"IAM, verify-identity, TLS stripped in front of a real server", evil.Options{Upstream: real.Addr}, "iam",
			"{mode: verify-identity, ca: " + caFile + "}", ""},
		{"IAM, verify-identity, attacker's own certificate, clear text", evil.Options{Mode: evil.SwitchClearText, TLS: attackerTLS}, "iam",
			"{mode: verify-identity, ca: " + caFile + "}", ""},
		{"password, verify-identity, no TLS, sha256_password with the attacker's RSA key", evil.Options{Mode: evil.SwitchSHA256}, "password",
			"{mode: verify-identity, ca: " + caFile + "}", ""},
		{"password, tls disabled, switch to sha256_password with the attacker's RSA key", evil.Options{Mode: evil.SwitchSHA256}, "password",
			"{mode: disabled}", ""},
		{"password, tls disabled, caching_sha2 full auth with the attacker's RSA key", evil.Options{Mode: evil.CachingSHA2FullAuth}, "password",
			"{mode: disabled}", "mysql_native_password"},
		{"password, tls required (unverified), caching_sha2 full auth in clear", evil.Options{Mode: evil.CachingSHA2FullAuth, TLS: attackerTLS}, "password",
			"{mode: required}", ""},
		{"password, tls required (unverified), switch to sha256_password", evil.Options{Mode: evil.SwitchSHA256, TLS: attackerTLS}, "password",
			"{mode: required}", ""},
		{"password, tls preferred, no TLS, switch to mysql_clear_password", evil.Options{Mode: evil.SwitchClearText}, "password",
			"{mode: preferred}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := evil.Start(t, tc.opts)
			host, port := "127.0.0.1", strings.TrimPrefix(srv.Addr, "127.0.0.1:")
			var b strings.Builder
			fmt.Fprintf(&b, "endpoints:\n  db:\n    host: %s\n    port: %s\n    user: app_iam\n    auth: %s\n    tls: %s\n", host, port, tc.auth, tc.tls)
			if tc.auth == "iam" {
				b.WriteString("    region: us-east-1\n")
			} else {
				b.WriteString("    password: {env: ATTACK_PW}\n")
			}
			if tc.plug != "" {
				fmt.Fprintf(&b, "    plugin: %s\n", tc.plug)
			}
			cfg, err := config.Parse("attack", []byte(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			token := realFormatToken(t, srv.Addr)
			svc := New(cfg, fixedIssuer{token: token}, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			res, err := svc.Validate(ctx, ValidateRequest{Endpoints: []string{"db"}, CompareDrivers: true, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if srv.Connections() == 0 {
				t.Fatal("the fake server saw no connection: the attack was not exercised")
			}
			got := srv.Received()
			for name, secret := range map[string]string{"IAM token": token, "password": attackPassword} {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("the fake server received the %s (%d connections)", name, srv.Connections())
				}
			}
			if len(res) != 1 || res[0].OK {
				t.Fatalf("validation should fail: %+v", res)
			}
			r := res[0]
			t.Logf("reason: %s", r.Reason)
			stopped := false
			for _, d := range r.Drivers {
				if d.Finding != nil && d.Finding.Code == "secret-without-verified-tls" {
					stopped = true
				}
			}
			if !stopped && tc.tls != "{mode: verify-identity, ca: "+caFile+"}" {
				// an unverified mode: go-sql-driver itself reaches the step
				if !strings.Contains(r.Reason, "did not send the secret") {
					t.Errorf("reason %q does not say the secret was withheld", r.Reason)
				}
			}
			if !stopped && strings.Contains(tc.name, "IAM") && !strings.Contains(tc.name, "own certificate") {
				t.Errorf("no driver replay reports secret-without-verified-tls: %+v", r.Drivers)
			}
		})
	}
}

// TestIAMTokenNeverLeavesThroughTLSStrippingMITMToMariaDB puts a man in the
// middle that strips TLS from the greeting of the real MariaDB peer, whose
// PAM IAM account (IDENTIFIED VIA pam, REQUIRE SSL) asks for the token in
// clear text (dialog) before it checks the account's SSL requirement. A
// valid token for that account must not reach the man in the middle through
// ValidateConnection with compare_drivers (the validator, the go-sql-driver
// replay and every driver profile).
func TestIAMTokenNeverLeavesThroughTLSStrippingMITMToMariaDB(t *testing.T) {
	// The key the PAM service checks tokens against (internal/testbroker's
	// values; that package imports this one).
	const keyID, secretKey, region = "AKIDCONNBROKERTEST01", "connbroker-test-secret-access-key", "us-east-1"
	iam := &mariadbtest.IAMOptions{AccessKeyID: keyID, SecretAccessKey: secretKey, Region: region}
	m := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: iam})
	if !m.IAMEnabled {
		t.Fatalf("the PAM IAM account is needed (run as root): %s", m.IAMDisabledReason)
	}
	mitm := evil.Start(t, evil.Options{Upstream: fmt.Sprintf("127.0.0.1:%d", m.Port)})
	// A token the real server accepts: signed for the server's own address.
	token, err := auth.BuildAuthToken(t.Context(), fmt.Sprintf("127.0.0.1:%d", m.Port), region, mariadbtest.IAMUser,
		credentials.NewStaticCredentialsProvider(keyID, secretKey, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(mitm.Addr, ":")
	cfg, err := config.Parse("attack", []byte(fmt.Sprintf(`endpoints:
  db:
    host: 127.0.0.1
    port: %s
    user: %s
    auth: iam
    region: %s
    tls: {mode: verify-identity, ca: %s}
`, port, mariadbtest.IAMUser, region, m.CAFile)))
	if err != nil {
		t.Fatal(err)
	}
	svc := New(cfg, fixedIssuer{token: token}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := svc.Validate(ctx, ValidateRequest{Endpoints: []string{"db"}, CompareDrivers: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if mitm.Connections() == 0 {
		t.Fatal("the man in the middle saw no connection: the attack was not exercised")
	}
	if bytes.Contains(mitm.Received(), []byte(token)) {
		t.Errorf("the man in the middle received the IAM token (%d connections)", mitm.Connections())
	}
	if len(res) != 1 || res[0].OK {
		t.Fatalf("validation should fail: %+v", res)
	}
	stopped := 0
	for _, d := range res[0].Drivers {
		if d.Finding != nil && d.Finding.Code == "secret-without-verified-tls" {
			stopped++
		}
	}
	if stopped == 0 {
		t.Errorf("no driver replay reports secret-without-verified-tls: %+v", res[0].Drivers)
	}
	t.Logf("reason: %s; %d of %d driver replays stopped before the token", res[0].Reason, stopped, len(res[0].Drivers))
}
