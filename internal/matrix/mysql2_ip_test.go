package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/internal/testbroker"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testtier"
)

// TestMySQL2IPHostIsCheckedAsLocalhost pins the mysql2 behaviour behind a
// hint warning: for an IP host mysql2 leaves servername unset and Node
// checks the certificate against "localhost", so a certificate that names
// only localhost is accepted for 127.0.0.1 although it does not name that
// address. PyMySQL, with the same kind of hints, refuses it. If mysql2 ever
// checks the IP, this test fails: then drop the warning.
func TestMySQL2IPHostIsCheckedAsLocalhost(t *testing.T) {
	testtier.Integration(t, "node and clients/node's packages")
	root := moduleRoot(t)
	tlsCfg, caPEM, err := mysql8test.GenerateTLSFor([]string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m8 := mysql8test.StartForTest(t, mysql8test.Options{TLS: tlsCfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{{User: "app", Password: "app-pw-1", Plugin: mysql8test.PluginCachingSHA2}}})
	dir := t.TempDir()
	ca, pw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pw")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("app-pw-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	br := testbroker.Start(t, fmt.Sprintf("endpoints:\n  ip:\n    host: 127.0.0.1\n    port: %d\n    user: app\n    database: app\n    auth: password\n    plugin: caching_sha2_password\n    password: {file: %s}\n    tls: {mode: verify-identity, ca: %s}\n", m8.Port, pw, ca))
	e := &env{root: root, br: br, python: filepath.Join(root, ".venv", "bin", "python")}

	warned := false
	for _, w := range e.params(t, "ip", "mysql2").GetHints().GetWarnings() {
		warned = warned || strings.Contains(w, `checks the name "localhost"`)
	}
	if !warned {
		t.Error("the mysql2 hints for an IP host do not warn that the IP is not checked")
	}
	case1 := []map[string]any{{"endpoint": "ip", "connects": 1}}
	_, node := e.subprocessN(t, []string{"node", filepath.Join(root, "internal/matrix/runners/node/runner.js")}, map[string]any{"broker": br.Addr, "cases": case1}, "")
	if !node[0].OK {
		t.Errorf("mysql2 refused a certificate that names only localhost for 127.0.0.1 (%s): it now checks the IP, drop the hint's warning", node[0].Error)
	}
	_, py := e.subprocessN(t, []string{e.python, filepath.Join(root, "internal/matrix/runners/py_runner.py"), "pymysql"},
		map[string]any{"broker": br.Addr, "driver": "pymysql", "cases": case1}, filepath.Join(root, "clients/python"))
	if py[0].OK || !strings.Contains(py[0].Error, "IP address mismatch") {
		t.Errorf("PyMySQL: ok=%v err=%q, want an IP address mismatch", py[0].OK, py[0].Error)
	}
}
