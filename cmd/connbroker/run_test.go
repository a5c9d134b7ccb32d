package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// startStack starts a real MariaDB and an in-process broker with one
// working and one failing endpoint.
func startStack(t *testing.T) (*testbroker.Broker, *mariadbtest.Server) {
	t.Helper()
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	os.WriteFile(good, []byte(mariadbtest.NativePassword), 0o600)
	os.WriteFile(bad, []byte("wrong-password-xyz"), 0o600)
	cfg := fmt.Sprintf(`endpoints:
  local-native:
    host: 127.0.0.1
    port: %[1]d
    user: app_native
    database: appdb
    auth: password
    password: {file: %[2]s}
    tls: {mode: verify-identity, ca: %[4]s}
  broken:
    host: 127.0.0.1
    port: %[1]d
    user: app_native
    auth: password
    password: {file: %[3]s}
    tls: {mode: verify-identity, ca: %[4]s}
`, db.Port, good, bad, db.CAFile)
	return testbroker.Start(t, cfg), db
}

func cli(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := func(string) (string, bool) { return "", false }
	code = exitCode(run(context.Background(), args, env, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	br, _ := startStack(t)
	b := "--broker=" + br.Addr
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		notInAll []string
	}{
		{"endpoints", []string{b, "endpoints"}, 0, []string{"local-native", "broken", "verify-identity"}, nil, nil},
		{"params table", []string{b, "params", "local-native", "--driver", "pymysql"}, 0, []string{"ssl_verify_identity", "[REDACTED]", "PASSWORD (file)"}, nil, []string{mariadbtest.NativePassword}},
		{"params show secret", []string{b, "params", "local-native", "--show-secret"}, 0, []string{mariadbtest.NativePassword}, nil, nil},
		{"validate one ok", []string{b, "validate", "local-native"}, 0, []string{"local-native", "OK", "app_native@%", "TLSv1."}, nil, nil},
		{"validate all fails", []string{b, "validate", "--all"}, 1, []string{"broken", "FAIL", "access-denied: the server answered 1045", "MySQL 1045 (28000)", "broken: access-denied:"}, nil, []string{"wrong-password-xyz"}},
		{"unknown endpoint", []string{b, "params", "nope"}, 2, nil, []string{`endpoint "nope" is not configured`}, nil},
		{"unknown driver", []string{b, "params", "local-native", "--driver", "odbc"}, 2, nil, []string{"known drivers"}, nil},
		{"validate without names", []string{b, "validate"}, 2, nil, []string{"--all"}, nil},
		{"bad output", []string{b, "-o", "yaml", "endpoints"}, 2, nil, []string{"table or json"}, nil},
		{"unknown flag", []string{b, "endpoints", "--nope"}, 2, nil, []string{"unknown flag"}, nil},
		{"broker down", []string{"--broker=127.0.0.1:1", "endpoints"}, 3, nil, []string{"not reachable", "127.0.0.1:1"}, nil},
		{"help", []string{"--help"}, 0, []string{"Exit codes", "validate"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(tt.args...)
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
			for _, s := range tt.notInAll {
				if strings.Contains(out+errOut, s) {
					t.Errorf("output contains the secret")
				}
			}
		})
	}
}

func TestCLIJSON(t *testing.T) {
	br, db := startStack(t)
	code, out, errOut := cli("--broker="+br.Addr, "params", "local-native", "--driver", "pymysql", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p struct {
		Host       string `json:"host"`
		Port       int    `json:"port"`
		Credential struct {
			Secret string `json:"secret"`
			Kind   string `json:"kind"`
		} `json:"credential"`
		TLS struct {
			CaPem string `json:"ca_pem"`
		} `json:"tls"`
		Hints struct {
			Options []struct {
				Name      string `json:"name"`
				BoolValue *bool  `json:"bool_value"`
			} `json:"options"`
		} `json:"hints"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	verifyCert := func(opts []struct {
		Name      string `json:"name"`
		BoolValue *bool  `json:"bool_value"`
	}) bool {
		for _, o := range opts {
			if o.Name == "ssl_verify_cert" {
				return o.BoolValue != nil && *o.BoolValue
			}
		}
		return false
	}
	if p.Host != "127.0.0.1" || p.Port != db.Port || p.Credential.Secret != "[REDACTED]" || p.Credential.Kind != "CREDENTIAL_KIND_PASSWORD" || p.TLS.CaPem != string(db.CAPEM) || !verifyCert(p.Hints.Options) {
		t.Errorf("params JSON: %+v", p)
	}
	code, out, _ = cli("--broker="+br.Addr, "validate", "--all", "-o", "json")
	var v struct {
		OK      bool `json:"ok"`
		Results []struct {
			Endpoint string `json:"endpoint"`
			OK       bool   `json:"ok"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 1 || v.OK || len(v.Results) != 2 {
		t.Fatalf("validate json: code %d err %v %+v", code, err, v)
	}
}
