package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/internal/testbroker"
	"github.com/connbroker/connbroker/internal/testpki"
)

// TestCLIOverMTLS runs the CLI against a broker that requires client
// certificates and enforces a policy; the secret never shows up in the
// CLI's output without --show-secret.
func TestCLIOverMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "cli test CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	caFile := ca.WriteCA(t, dir, "clients")
	ops := ca.WriteFiles(t, dir, "ops", testpki.Leaf{DNS: []string{"cli.ops.internal"}})
	secret := "cli-mtls-password-never-printed-1b7e"
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
tls: {cert: %[1]s, key: %[2]s, client_ca: %[3]s}
endpoints:
  ops-db:
    host: 127.0.0.1
    user: ops
    auth: password
    password: {file: %[4]s}
    tls: {mode: disabled}
  other:
    host: 127.0.0.1
    user: other
    auth: password
    password: {file: %[4]s}
    tls: {mode: disabled}
policy:
  - caller: cli.ops.internal
    endpoints: [ops-db]
`, srv.Cert, srv.Key, caFile, pw)
	serverCert := ca.TLSCert(t, testpki.LoopbackServer())
	br, stop, err := testbroker.NewWith(cfg, testbroker.Options{
		ServerTLS: &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert},
		ClientTLS: &tls.Config{RootCAs: ca.Pool()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	b := "--broker=" + br.Addr
	mtls := []string{b, "--ca", caFile, "--cert", ops.Cert, "--key", ops.Key}
	tests := []struct {
		name   string
		args   []string
		code   int
		output []string
	}{
		{"params table", slices.Concat(mtls, []string{"params", "ops-db", "--driver", "pymysql"}), 0, []string{"[REDACTED]", "PASSWORD"}},
		{"params json", slices.Concat(mtls, []string{"-o", "json", "params", "ops-db"}), 0, []string{"[REDACTED]"}},
		{"endpoints are filtered by the policy", slices.Concat(mtls, []string{"endpoints"}), 0, []string{"ops-db"}},
		{"denied endpoint", slices.Concat(mtls, []string{"params", "other"}), 3, []string{`"other"`, "refused"}},
		{"validate a denied endpoint", slices.Concat(mtls, []string{"validate", "other"}), 3, []string{`"other"`}},
		{"no client certificate", []string{b, "--ca", caFile, "params", "ops-db"}, 3, []string{br.Addr}},
		{"plaintext to a TLS broker", []string{b, "params", "ops-db"}, 3, []string{br.Addr}},
		{"cert without key", []string{b, "--ca", caFile, "--cert", ops.Cert, "params", "ops-db"}, 2, []string{"--cert and --key"}},
		{"unreadable ca", []string{b, "--ca", filepath.Join(dir, "nope.pem"), "params", "ops-db"}, 2, []string{"--ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, s := range tt.output {
				if !strings.Contains(out+errOut, s) {
					t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", s, out, errOut)
				}
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("the secret appears in the CLI output")
			}
			if tt.name == "endpoints are filtered by the policy" && strings.Contains(out, "other") {
				t.Errorf("endpoints lists an endpoint the caller may not get:\n%s", out)
			}
		})
	}
	// With --show-secret the same call prints it: the check above can fail.
	if _, out, _ := cli(slices.Concat(mtls, []string{"params", "ops-db", "--show-secret"})...); !strings.Contains(out, secret) {
		t.Errorf("--show-secret did not print the secret")
	}
}

// TestClientCertReload: the client certificate is re-read at each
// handshake (a renewed pair is presented without a restart); a file that
// cannot be read keeps the last good pair.
func TestClientCertReload(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "reload CA")
	a := ca.WriteFiles(t, dir, "a", testpki.Leaf{DNS: []string{"first.example"}})
	b := ca.WriteFiles(t, t.TempDir(), "b", testpki.Leaf{DNS: []string{"renewed.example"}})
	first, err := tls.LoadX509KeyPair(a.Cert, a.Key)
	if err != nil {
		t.Fatal(err)
	}
	get := reloadingCert(a.Cert, a.Key, &first)
	name := func() string {
		c, err := get(nil)
		if err != nil || c.Leaf == nil {
			t.Fatalf("GetClientCertificate: %v", err)
		}
		return c.Leaf.DNSNames[0]
	}
	if n := name(); n != "first.example" {
		t.Errorf("first: %s", n)
	}
	for _, p := range [][2]string{{b.Cert, a.Cert}, {b.Key, a.Key}} {
		data, _ := os.ReadFile(p[0])
		os.WriteFile(p[1], data, 0o600)
	}
	if n := name(); n != "renewed.example" {
		t.Errorf("after renewal: %s", n)
	}
	os.WriteFile(a.Cert, []byte("half-written"), 0o600)
	if n := name(); n != "renewed.example" {
		t.Errorf("with a broken file: %s", n)
	}
}
