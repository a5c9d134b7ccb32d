package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/preflight"
	cmdline "github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testbroker"
)

// TestPreflightCLI runs `connbroker preflight` against an in-process
// broker whose inventory is set by hand (the endpoint's server is never
// contacted: preflight plays the drivers against its own simulation) and
// checks the table, JSON and every exit code.
func TestPreflightCLI(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("not-used\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	br := testbroker.Start(t, `endpoints:
  orders:
    host: 127.0.0.1
    port: 3306
    user: app
    database: app
    auth: password
    plugin: mysql_native_password
    password: {file: `+pw+`}
    tls: {mode: disabled}
  reports:
    host: 127.0.0.1
    port: 3307
    user: app
    auth: password
    plugin: mysql_native_password
    password: {file: `+pw+`}
    tls: {mode: disabled}
`)
	b := "--broker=" + br.Addr
	apps := []preflight.App{
		{Caller: "spiffe://example.org/billing", Env: diagnose.ClientEnvironment{Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.0.2"}}}},
		{Caller: "spiffe://example.org/web", Env: diagnose.ClientEnvironment{Driver: "mysql2", Packages: []diagnose.ClientPackage{{Name: "mysql2", Version: "3.15.0"}}}},
	}
	code, _, stderr := cli("preflight", "orders", "--change", "plugin=caching_sha2_password", b)
	if code != cmdline.BrokerUnreachable || !strings.Contains(stderr, "inventory is off") {
		t.Errorf("without an inventory: exit %d, stderr %q; want 3 and \"inventory is off\"", code, stderr)
	}
	br.Service.SetInventory(preflight.Static{List: map[string][]preflight.App{"orders": apps}})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		want   []string
		stderr string
	}{
		{name: "a break", args: []string{"preflight", "orders", "--change", "plugin=caching_sha2_password"}, code: cmdline.Failed,
			want: []string{"spiffe://example.org/billing  pymysql", "works   BREAKS", "pymysql-authswitch-fast-auth-bug", `fix: pip install "PyMySQL[rsa]>=1.1.2"`, "spiffe://example.org/web", "RESULT: apps would break."}},
		{name: "nothing breaks", args: []string{"preflight", "orders", "--change", "plugin=mysql_native_password"}, code: cmdline.OK,
			want: []string{"RESULT: no app seen on this endpoint would break."}},
		{name: "json", args: []string{"preflight", "orders", "--change", "require-tls", "-o", "json"}, code: cmdline.Failed,
			want: []string{`"status": "PREFLIGHT_STATUS_OK"`, `"any_breaks": true`, `"after": "PREFLIGHT_OUTCOME_BREAKS"`, `"code": "server-requires-tls"`}},
		{name: "no apps seen", args: []string{"preflight", "reports", "--change", "require-tls"}, code: cmdline.NotKnown,
			want: []string{"No apps seen on this endpoint"}},
		{name: "unknown kind", args: []string{"preflight", "orders", "--change", "tls=on"}, code: cmdline.Usage,
			stderr: `unknown kind "tls"; valid changes: plugin=caching_sha2_password|mysql_native_password|sha256_password|client_ed25519, auth=iam, require-tls`},
		{name: "no change", args: []string{"preflight", "orders"}, code: cmdline.Usage, stderr: "no change given"},
		{name: "missing CA file", args: []string{"preflight", "orders", "--change", "ca=" + filepath.Join(dir, "none.pem")}, code: cmdline.Usage, stderr: "none.pem"},
		{name: "unknown endpoint", args: []string{"preflight", "nope", "--change", "require-tls"}, code: cmdline.Usage, stderr: `endpoint "nope" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := cli(append(tc.args, b)...)
			out = strings.ReplaceAll(out, ":  ", ": ") // protojson's unstable spacing
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q: %q", tc.stderr, stderr)
			}
		})
	}
	br.Service.SetInventory(preflight.Static{Incomplete: true, List: map[string][]preflight.App{"orders": apps[1:]}})
	code, out, _ := cli("preflight", "orders", "--change", "plugin=mysql_native_password", b)
	if code != cmdline.NotKnown || !strings.Contains(out, "INVENTORY INCOMPLETE") || strings.Contains(out, "would break") {
		t.Errorf("incomplete inventory: exit %d, stdout:\n%s\nwant 4, INVENTORY INCOMPLETE and no all-clear", code, out)
	}
}
