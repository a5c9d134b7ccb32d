package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

// TestDiagnoseAndProbe runs the CLI against a real broker and the RDS-like
// endpoint (TLS, AuthSwitch to mysql_clear_password, real SigV4 check).
func TestDiagnoseAndProbe(t *testing.T) {
	e, err := rdslike.Start(context.Background(), rdslike.Options{Region: testbroker.Region,
		AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
		IAMUsers: []string{"app_iam"}, Passwords: map[string]string{"app_sha2": "sha2-pass-77"}})
	if err != nil {
		t.Fatalf("start RDS-like endpoint: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	static := filepath.Join(dir, "static")
	os.WriteFile(ca, e.CAPEM, 0o600)
	os.WriteFile(static, []byte("a-static-password-xyz"), 0o600)
	br := testbroker.Start(t, fmt.Sprintf(`endpoints:
  proxy-iam:
    host: 127.0.0.1
    port: %[1]d
    user: app_iam
    auth: iam
    region: us-east-1
    tls: {mode: verify-identity, ca: %[2]s}
  iam-static:
    host: 127.0.0.1
    port: %[1]d
    user: app_iam
    auth: password
    password: {file: %[3]s}
    tls: {mode: verify-identity, ca: %[2]s}
`, e.Port, ca, static))
	b := "--broker=" + br.Addr
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	closed := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().String()
	}()
	otherCA := filepath.Join(dir, "other.pem")
	os.WriteFile(otherCA, []byte(testCA), 0o600)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"diagnose IAM via proxy works", []string{b, "diagnose", "proxy-iam"}, 0,
			[]string{"OK: go-sql-driver logged in", "auth iam, plugin mysql_clear_password", "evidence (config): auth: iam", "auth-switch-request", "mysql_clear_password", "DRIVER", "PyMySQL", "without cryptography",
				"MySQL Connector/J", "mysqlclient", "MariaDB Connector/C"}, nil},
		// The table plays each driver as the hints set it up: mysql2 gets
		// enableCleartextPlugin, so it works.
		{"diagnose --driver mysql2 (works: the hints give the opt-in)", []string{b, "diagnose", "proxy-iam", "--driver", "mysql2"}, 0,
			[]string{"mysql2 (Node.js)", "as the hints set it up  works"}, nil},
		{"diagnose --driver by alias", []string{b, "diagnose", "proxy-iam", "--driver", "node-mysql2"}, 0,
			[]string{"mysql2 (Node.js)", "works"}, nil},
		{"diagnose static password to IAM account", []string{b, "diagnose", "iam-static"}, 1,
			[]string{"endpoint iam-static: FAILED: static-password-to-iam-account: ", "auth: iam"}, nil},
		{"validate static password to IAM account", []string{b, "validate", "iam-static"}, 1,
			[]string{"static-password-to-iam-account: ", "fix: set auth: iam"}, nil},
		{"diagnose unknown driver", []string{b, "diagnose", "proxy-iam", "--driver", "odbc"}, 2, nil, []string{"unknown driver", "pymysql (aliases PyMySQL)", "go-sql-driver (aliases go, "}},
		{"diagnose unknown endpoint", []string{b, "diagnose", "nope"}, 2, nil, []string{"not configured"}},
		{"probe the RDS-like endpoint", []string{"probe", e.Addr}, 0,
			[]string{"MySQL 8.0.36-rdslike", "mysql_native_password", "offered; TLS 1.3", "PLUGIN_AUTH"}, nil},
		{"probe through the broker", []string{b, "probe", "--endpoint", "proxy-iam"}, 0, []string{"verification ok"}, nil},
		{"probe an RDS proxy name (DNS fails)", []string{"probe", "orders.proxy-abc123def.cn-north-1.rds.amazonaws.com.cn:3306", "--timeout", "3s"}, 1,
			[]string{"rds-proxy (region cn-north-1, partition aws-cn)"}, nil},
		{"probe with the wrong CA", []string{"probe", e.Addr, "--tls", "verify-identity", "--ca", otherCA}, 1, []string{"ca-does-not-verify"}, nil},
		{"probe HTTP on the port", []string{"probe", strings.TrimPrefix(web.URL, "http://"), "--timeout", "2s"}, 1, []string{"greeting-timeout", "HTTP"}, nil},
		{"probe a closed port", []string{"probe", closed}, 1, []string{"connection-refused"}, nil},
		{"probe unparsable HOST:PORT", []string{"probe", "db:port"}, 2, nil, []string{"not HOST:PORT"}},
		{"probe port out of range", []string{"probe", "db:" + strconv.Itoa(70000)}, 2, nil, []string{"1 to 65535"}},
		{"probe bad TLS mode", []string{"probe", e.Addr, "--tls", "sometimes"}, 2, nil, []string{"--tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(tt.args...)
			t.Logf("exit %d\n%s%s", code, out, errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			// The verdict is the primary finding: for a static password sent to
			// an IAM account never the clear-text opt-in (the wrong secret, in clear).
			for _, v := range strings.Split(out, "\n") {
				verdict := strings.HasPrefix(v, "endpoint iam-static: ") || strings.HasPrefix(v, "iam-static ")
				if verdict && strings.Contains(v, "allowCleartextPasswords") {
					t.Errorf("verdict suggests the clear-text opt-in: %s", v)
				}
			}
			if strings.Contains(out+errOut, "X-Amz-Signature") || strings.Contains(out+errOut, "a-static-password-xyz") {
				t.Errorf("output contains a secret")
			}
		})
	}
}

// testCA is a CA that did not sign the endpoint's certificate.
const testCA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`

// TestVerdictStaticPasswordToMariaDBIAMAccount: a static password configured
// for the MariaDB PAM account that plays an RDS IAM account. Both validate
// and diagnose lead with static-password-to-iam-account; neither suggests
// the clear-text opt-in, which would only send the wrong secret in clear.
func TestVerdictStaticPasswordToMariaDBIAMAccount(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: &mariadbtest.IAMOptions{
		AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region}})
	if !db.IAMEnabled {
		t.Fatalf("the MariaDB PAM IAM account is needed (run as root): %s", db.IAMDisabledReason)
	}
	static := filepath.Join(t.TempDir(), "static")
	os.WriteFile(static, []byte("a-static-password-q7"), 0o600)
	br := testbroker.Start(t, fmt.Sprintf(`endpoints:
  pam-static:
    host: 127.0.0.1
    port: %d
    user: %s
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, db.Port, mariadbtest.IAMUser, static, db.CAFile))
	for _, cmd := range []string{"validate", "diagnose"} {
		code, out, errOut := cli("--broker="+br.Addr, cmd, "pam-static")
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s%s", cmd, code, out, errOut)
		}
		var verdict string
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "endpoint pam-static: FAILED: "); ok { // diagnose
				verdict = v
			} else if f := strings.Fields(l); len(f) > 1 && f[0] == "pam-static" && f[1] == "FAIL" { // validate's table
				verdict = l // the REASON column is last; when it does not start as it should, all of it
				if _, reason, ok := strings.Cut(l, "  static-password"); ok {
					verdict = "static-password" + reason
				}
			}
		}
		if !strings.HasPrefix(verdict, "static-password-to-iam-account: ") || !strings.Contains(verdict, "fix: set auth: iam") ||
			strings.Contains(verdict, "allowCleartextPasswords") {
			t.Errorf("%s: verdict %q, want static-password-to-iam-account with the auth: iam fix\n%s", cmd, verdict, out)
		}
		if strings.Contains(out+errOut, "a-static-password-q7") {
			t.Errorf("%s: output contains the secret", cmd)
		}
	}
}
