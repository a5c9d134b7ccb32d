// Package matrix is the compatibility matrix: every supported driver, real
// (PyPI, npm, the Go module proxy, Debian's CLI), logs in to every account
// kind on the real test peers using nothing but what the broker returned,
// runs SELECT CURRENT_USER(), and the run is written to
// docs/COMPATIBILITY.md. The test fails when a combination fails without
// the broker's hints saying so (a warning starting with
// hints.UnsupportedPrefix), when the hints say so but it works, or when the
// committed table differs from the run (go test ./internal/matrix -update
// rewrites it). Before each row the handshake prober plays the row's
// driver profile (broker/handshake) against the same endpoints, and the
// test fails when its prediction differs from the real driver
// (profiles_test.go).
package matrix

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	cbgo "github.com/connbroker/connbroker/clients/go"
	"github.com/connbroker/connbroker/internal/iamverify"
	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// connectorJVersion is the Connector/J that `make matrix-deps` puts in bin/
// (CONNECTOR_J in the Makefile).
const connectorJVersion = "26.10.0"

// tlsRefusal matches how each driver reports an untrusted server certificate.
var tlsRefusal = regexp.MustCompile(`(?i)certif|x509|pkix|issuer|ssl|tls`)

var update = flag.Bool("update", false, "rewrite docs/COMPATIBILITY.md from this run")

// kind is one column: an account kind on a real peer.
type kind struct {
	key, title, endpoint string
	connects             int    // connections per case (2: caching_sha2 full, then fast)
	sha2User             string // mysql8 user whose fast/full path is checked
	mustRefuse           bool   // the login must fail: the server is not trusted
}

var kinds = []kind{
	{"native", "mysql_native_password<br>(MariaDB, TLS)", "mdb-native", 1, "", false},
	{"ed25519", "client_ed25519<br>(MariaDB, TLS)", "mdb-ed25519", 1, "", false},
	{"pam-iam", "IAM token, clear text<br>(MariaDB PAM, TLS)", "mdb-iam", 1, "", false},
	{"sha2-tls", "caching_sha2_password<br>TLS, full + fast", "m8-sha2-tls", 2, "sha2tls", false},
	{"sha2-plain", "caching_sha2_password<br>plain TCP, full (RSA) + fast", "m8-sha2-plain", 2, "sha2plain", false},
	{"sha256-tls", "sha256_password<br>TLS", "m8-sha256-tls", 1, "", false},
	{"sha256-plain", "sha256_password<br>plain TCP (RSA)", "m8-sha256-plain", 1, "", false},
	{"proxy-iam", "IAM token, clear text<br>(RDS-Proxy-like peer, TLS)", "m8-iam", 1, "", false},
	// The IAM account of the MariaDB peer, but the endpoint trusts another
	// CA: every driver must refuse the server before sending the token.
	{"wrong-ca", "server cert from another CA<br>(IAM, must refuse)", "mdb-iam-wrong-ca", 1, "", true},
	// A peer whose certificate (from the trusted CA) names another host:
	// every driver must refuse it on the host name.
	{"wrong-host", "server cert for another host<br>(IAM, must refuse)", "m8-iam-wrong-host", 1, "", true},
}

// driverRow is one row: a driver and how to run it.
type driverRow struct {
	name   string // canonical hints driver name
	runner string // "python", "node", "go", "cli", "absent"
	note   string // shown for absent drivers
}

var rows = []driverRow{
	{name: "pymysql", runner: "python"},
	{name: "mysqlclient", runner: "python"},
	{name: "mysql-connector-python", runner: "python"},
	{name: "mysql-connector-python-pure", runner: "python"},
	{name: "aiomysql", runner: "python"},
	{name: "sqlalchemy+pymysql", runner: "python"},
	{name: "sqlalchemy+mysqlclient", runner: "python"},
	{name: "sqlalchemy+mysqlconnector", runner: "python"},
	{name: "go-sql-driver", runner: "go"},
	{name: "mysql2", runner: "node"},
	{name: "mariadb-cli", runner: "cli"},
	{name: "mysql-cli", runner: "absent", note: "not run: Oracle's mysql client is not installable on Debian 12; its `mysql` is MariaDB's client, which rejects `--ssl-mode`"},
	{name: "connector-j", runner: "java"},
}

// result is one cell.
type result struct {
	Endpoint string `json:"endpoint"`
	OK       bool   `json:"ok"`
	User     string `json:"user"`
	Error    string `json:"error"`
}

type runOut struct {
	Version string   `json:"version"`
	Results []result `json:"results"`
}

// env is the running world: peers, broker, paths.
type env struct {
	root   string // module root
	br     *testbroker.Broker
	m8     *mysql8test.Server
	mdb    *mariadbtest.Server
	python string

	m8WrongHost    *mysql8test.Server // certificate for db.other.example only
	m8NoTLS        *mysql8test.Server // offers no TLS at all
	tokensReceived atomic.Int64       // tokens m8WrongHost received

	grid  []gridBehaviour               // the differential matrix (grid_test.go)
	cells []gridCell                    // its endpoints, in order
	flush map[string]*mysql8test.Server // endpoint -> caching_sha2 cache to flush before predicting it
	dials map[string]string             // endpoint -> its dial address
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func setup(t *testing.T) *env {
	t.Helper()
	testtier.Integration(t, "mariadbd, the venv's drivers, node, java")
	e := &env{root: moduleRoot(t)}
	e.python = filepath.Join(e.root, ".venv", "bin", "python")
	if _, err := os.Stat(e.python); err != nil {
		t.Fatalf("%s missing: run `make venv` (it installs the pinned drivers from requirements-dev.txt)", e.python)
	}
	if _, err := os.Stat(filepath.Join(e.root, "clients/node/node_modules/mysql2")); err != nil {
		t.Fatalf("clients/node's packages (mysql2, @grpc/grpc-js) are not installed: run `make matrix-deps` (npm ci in clients/node)")
	}
	dir := t.TempDir()
	e.mdb = mariadbtest.StartForTest(t, mariadbtest.Options{
		Dir: filepath.Join(dir, "mariadb"),
		IAM: &mariadbtest.IAMOptions{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region, Host: "127.0.0.1"},
	})
	if !e.mdb.IAMEnabled {
		t.Fatalf("the MariaDB PAM IAM account is required: %s", e.mdb.IAMDisabledReason)
	}
	tlsCfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	var m8Port int
	e.m8 = mysql8test.StartForTest(t, mysql8test.Options{
		TLS: tlsCfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{
			{User: "sha2tls", Password: "sha2tls-pw-1", Plugin: mysql8test.PluginCachingSHA2},
			{User: "sha2plain", Password: "sha2plain-pw-1", Plugin: mysql8test.PluginCachingSHA2},
			{User: "sha256", Password: "sha256-pw-1", Plugin: mysql8test.PluginSHA256},
			{User: "iam", Plugin: mysql8test.PluginClearPassword, RequireTLS: true},
		},
		ClearPasswordVerifier: func(user, secret string, _ bool) error {
			return iamverify.Verify(iamverify.Policy{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
				Region: testbroker.Region, Host: "127.0.0.1", Port: m8Port}, user, secret)
		},
	})
	m8Port = e.m8.Port
	otherHostTLS, otherHostCA, err := mysql8test.GenerateTLSFor([]string{"db.other.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wrongHostPort int
	e.m8WrongHost = mysql8test.StartForTest(t, mysql8test.Options{
		TLS: otherHostTLS, CAPEM: otherHostCA,
		Accounts: []mysql8test.Account{{User: "iam", Plugin: mysql8test.PluginClearPassword, RequireTLS: true}},
		ClearPasswordVerifier: func(user, secret string, _ bool) error {
			e.tokensReceived.Add(1) // a token reached a server whose name the client did not check
			return iamverify.Verify(iamverify.Policy{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
				Region: testbroker.Region, Host: "127.0.0.1", Port: wrongHostPort}, user, secret)
		},
	})
	wrongHostPort = e.m8WrongHost.Port
	e.m8NoTLS = mysql8test.StartForTest(t, mysql8test.Options{
		Accounts: []mysql8test.Account{{User: "notls", Password: "notls-pw-1", Plugin: mysql8test.PluginNative}},
	})
	wrongHostCA := filepath.Join(dir, "wrong-host-ca.pem")
	if err := os.WriteFile(wrongHostCA, otherHostCA, 0o600); err != nil {
		t.Fatal(err)
	}
	m8CA := filepath.Join(dir, "m8-ca.pem")
	_, otherPEM, err := mysql8test.GenerateTLS() // a CA that signed neither server
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(otherCA, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pw := func(name, secret string) string {
		p := filepath.Join(dir, name+".pw")
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.WriteFile(m8CA, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(ca string) string { return fmt.Sprintf("    tls: {mode: verify-identity, ca: %s}\n", ca) }
	ep := func(name string, port int, user, db, extra string) string {
		return fmt.Sprintf("  %s:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n%s", name, port, user, db, extra)
	}
	mdb, m8 := e.mdb, e.m8
	cfg := "endpoints:\n" +
		ep("mdb-native", mdb.Port, mariadbtest.NativeUser, mariadbtest.Database, "    auth: password\n    plugin: mysql_native_password\n    password: {file: "+pw("native", mariadbtest.NativePassword)+"}\n"+verify(mdb.CAFile)) +
		ep("mdb-ed25519", mdb.Port, mariadbtest.Ed25519User, mariadbtest.Database, "    auth: password\n    plugin: client_ed25519\n    password: {file: "+pw("ed", mariadbtest.Ed25519Password)+"}\n"+verify(mdb.CAFile)) +
		ep("mdb-iam", mdb.Port, mariadbtest.IAMUser, mariadbtest.Database, "    auth: iam\n    region: "+testbroker.Region+"\n"+verify(mdb.CAFile)) +
		ep("m8-sha2-tls", m8.Port, "sha2tls", "app", "    auth: password\n    plugin: caching_sha2_password\n    password: {file: "+pw("sha2tls", "sha2tls-pw-1")+"}\n"+verify(m8CA)) +
		ep("m8-sha2-plain", m8.Port, "sha2plain", "app", "    auth: password\n    plugin: caching_sha2_password\n    password: {file: "+pw("sha2plain", "sha2plain-pw-1")+"}\n    tls: {mode: disabled}\n") +
		ep("m8-sha256-tls", m8.Port, "sha256", "app", "    auth: password\n    plugin: sha256_password\n    password: {file: "+pw("sha256", "sha256-pw-1")+"}\n"+verify(m8CA)) +
		ep("m8-sha256-plain", m8.Port, "sha256", "app", "    auth: password\n    plugin: sha256_password\n    password: {file: "+pw("sha256b", "sha256-pw-1")+"}\n    tls: {mode: disabled}\n") +
		ep("m8-iam", m8.Port, "iam", "app", "    auth: iam\n    region: "+testbroker.Region+"\n"+verify(m8CA)) +
		ep("m8-iam-wrong-host", e.m8WrongHost.Port, "iam", "app", "    auth: iam\n    region: "+testbroker.Region+"\n"+verify(wrongHostCA)) +
		ep("mdb-iam-wrong-ca", mdb.Port, mariadbtest.IAMUser, mariadbtest.Database, "    auth: iam\n    region: "+testbroker.Region+"\n"+verify(otherCA)) +
		ep("m8-no-tls", e.m8NoTLS.Port, "notls", "app", "    auth: password\n    plugin: mysql_native_password\n    password: {file: "+pw("notls", "notls-pw-1")+"}\n"+verify(m8CA))
	writeFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg += e.setupGrid(t, writeFile, m8CA)
	e.br = testbroker.Start(t, cfg)
	return e
}

func (e *env) params(t *testing.T, endpoint, driver string) *v1.ConnectionParams {
	t.Helper()
	resp, err := e.br.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: endpoint, Driver: driver})
	if err != nil {
		t.Fatalf("GetConnectionParams(%s, %s): %v", endpoint, driver, err)
	}
	return resp.GetParams()
}

// runKinds returns the driver's version and one result per kind of ks.
func (e *env) runKinds(t *testing.T, d driverRow, ks []kind) (string, []result) {
	t.Helper()
	var cases []map[string]any
	for _, k := range ks {
		cases = append(cases, map[string]any{"endpoint": k.endpoint, "connects": k.connects})
	}
	var version string
	var res []result
	switch d.runner {
	case "python":
		version, res = e.subprocessN(t, []string{e.python, filepath.Join(e.root, "internal/matrix/runners/py_runner.py"), d.name},
			map[string]any{"broker": e.br.Addr, "driver": d.name, "cases": cases}, filepath.Join(e.root, "clients/python"))
	case "node":
		version, res = e.subprocessN(t, []string{"node", filepath.Join(e.root, "internal/matrix/runners/node/runner.js")},
			map[string]any{"broker": e.br.Addr, "cases": cases}, "")
	case "go":
		version, res = goVersion(t), e.runGo(t, ks)
	case "java":
		version, res = connectorJVersion, e.runJavaKinds(t, d.name, ks, "")
	case "cli":
		version, res = e.runCLI(t, ks)
	default:
		t.Fatalf("unknown runner %q", d.runner)
	}
	if len(res) != len(ks) {
		t.Fatalf("%s: %d results for %d kinds", d.name, len(res), len(ks))
	}
	return version, res
}

// subprocessN runs a runner and returns its version and results.
func (e *env) subprocessN(t *testing.T, argv []string, in any, dir string) (string, []result) {
	t.Helper()
	b, _ := json.Marshal(in)
	out := e.subprocessRaw(t, argv, b, dir)
	var r runOut
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: bad output %q: %v", argv[0], out, err)
	}
	return r.Version, r.Results
}

// subprocessRaw runs argv with stdin b and returns its stdout.
func (e *env) subprocessRaw(t *testing.T, argv []string, b []byte, dir string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	// This checkout's Python client, not whatever the venv has installed.
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(e.root, "clients/python"))
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return out
}

func goVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/go-sql-driver/mysql").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/go-sql-driver/mysql: %v", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

// nodeClientTests runs clients/node's own tests (node --test) against this
// broker and these servers.
func (e *env) nodeClientTests(t *testing.T) {
	logins, _ := json.Marshal([][2]string{{"mdb-native", "app_native@%"}, {"mdb-iam", "app_iam@%"}, {"m8-sha2-plain", "sha2plain@%"}, {"m8-iam", "iam@%"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "test/")
	cmd.Dir = filepath.Join(e.root, "clients/node")
	cmd.Env = append(os.Environ(), "CONNBROKER_ADDR="+e.br.Addr, "CONNBROKER_TEST_LOGINS="+string(logins))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in clients/node: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test output lacks '# fail 0':\n%s", out)
	}
}

// cleartextGate proves the environment variable of the mysqlclient hints
// with Oracle's libmysqlclient: without it the clear-text plugin is refused
// (2059), with it the IAM login works.
func (e *env) cleartextGate(t *testing.T) {
	var env []string
	for _, v := range e.params(t, "mdb-iam", "mysqlclient").GetHints().GetEnv() {
		env = append(env, v.GetName()+"="+v.GetValue())
	}
	if len(env) != 1 || env[0] != "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1" {
		t.Fatalf("mysqlclient hints env = %v", env)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{nil, "ERR 2059 (HY000): Authentication plugin 'mysql_clear_password' cannot be loaded: plugin not enabled"},
		{env, "OK"},
	} {
		// Oracle's libmysqlclient profiles, opted in by the variable or not,
		// must predict the real outcome.
		cext := handshake.ConnectorPythonC()
		cext.ClearTextOptIn = tt.env != nil
		for _, prof := range []handshake.Profile{handshake.MysqlclientLibmysql(tt.env != nil), cext} {
			if ok, why := e.predictGate(t, prof); ok != (tt.want == "OK") {
				t.Errorf("env %v: the %s profile predicts %s, the real login: %s", tt.env, prof.Name, why, tt.want)
			}
		}
		cmd := exec.Command(e.python, filepath.Join(e.root, "internal/matrix/runners/gate.py"), e.br.Addr, "mdb-iam")
		cmd.Dir = filepath.Join(e.root, "clients/python")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, tt.env...)
		cmd.Env = append(cmd.Env, "PYTHONPATH="+filepath.Join(e.root, "clients/python"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gate.py: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("env %v: %q, want %q", tt.env, got, tt.want)
		}
	}
}

// runJava runs every connection of every kind in one JVM, each with fresh
// params passed as the hints' DSN, options and secret.
func (e *env) runJava(t *testing.T, driver string) []result {
	t.Helper()
	return e.runJavaKinds(t, driver, kinds, "")
}

// runJavaKinds is runJava for ks, with the hints' option drop (when not
// empty) removed from the DSN and the properties.
func (e *env) runJavaKinds(t *testing.T, driver string, ks []kind, drop string) []result {
	t.Helper()
	jar := filepath.Join(e.root, "bin", "mysql-connector-j-"+connectorJVersion+".jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("%s missing: run `make matrix-deps` (Maven fetches com.mysql:mysql-connector-j:%s)", jar, connectorJVersion)
	}
	var in bytes.Buffer
	for _, k := range ks {
		for range k.connects {
			p := e.params(t, k.endpoint, driver)
			h := p.GetHints()
			ca := ""
			if p.GetTls().GetCaPem() != "" {
				ca = e.caFile(t, p)
			}
			dsn := h.GetDsn()
			opts := v1.OptionsMap(h.GetOptions())
			if drop != "" {
				dsn = withoutQueryParam(t, dsn, drop)
				delete(opts, drop)
			}
			fields := []string{k.endpoint, dsn, h.GetSecretOption(), p.GetCredential().GetSecret(), ca}
			keys := make([]string, 0, len(opts))
			for key := range opts {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			for _, key := range keys {
				fields = append(fields, key+"="+fmt.Sprint(opts[key]))
			}
			in.WriteString(strings.Join(fields, "\t") + "\n")
		}
	}
	raw := e.subprocessRaw(t, []string{"java", "-cp", jar, filepath.Join(e.root, "internal/matrix/runners/java/Runner.java")}, in.Bytes(), "")
	byEndpoint := map[string]*result{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("Runner.java: bad line %q", line)
		}
		r, ok := byEndpoint[f[0]]
		if !ok {
			r = &result{Endpoint: f[0], OK: true}
			byEndpoint[f[0]] = r
		}
		if f[1] == "ok" {
			r.User = f[2]
		} else if r.OK {
			r.OK, r.Error, r.User = false, f[2], ""
		}
	}
	var out []result
	for _, k := range ks {
		r, ok := byEndpoint[k.endpoint]
		if !ok {
			t.Fatalf("Runner.java: no result for %s", k.endpoint)
		}
		out = append(out, *r)
	}
	return out
}

// runGo opens a database/sql pool on clients/go's connector per kind.
func (e *env) runGo(t *testing.T, ks []kind) []result {
	t.Helper()
	var out []result
	for _, k := range ks {
		r := result{Endpoint: k.endpoint}
		db := sql.OpenDB(cbgo.Connector(e.br.Client, k.endpoint))
		db.SetMaxIdleConns(0) // every query opens a new physical connection
		var err error
		for range k.connects {
			if err = db.QueryRow("SELECT CURRENT_USER()").Scan(&r.User); err != nil {
				break
			}
		}
		db.Close()
		r.OK = err == nil
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}

// runCLI runs the mariadb client with the hints' options as long flags.
func (e *env) runCLI(t *testing.T, ks []kind) (string, []result) {
	t.Helper()
	v, err := exec.Command("mariadb", "--version").Output()
	if err != nil {
		t.Fatalf("mariadb --version: %v (install mariadb-client: scripts/install-deps.sh)", err)
	}
	version := strings.TrimSpace(string(v))
	if f := strings.Fields(version); len(f) >= 5 {
		version = strings.TrimSuffix(f[4], ",") // "mariadb  Ver 15.1 Distrib 10.11.x-MariaDB, ..."
	}
	var out []result
	for _, k := range ks {
		r := result{Endpoint: k.endpoint}
		for range k.connects {
			p := e.params(t, k.endpoint, "mariadb-cli")
			args := []string{"--no-defaults"}
			opts := v1.OptionsMap(p.GetHints().GetOptions())
			keys := make([]string, 0, len(opts))
			for key := range opts {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			ca := e.caFile(t, p)
			for _, key := range keys {
				switch val := opts[key].(type) {
				case bool:
					if val {
						args = append(args, "--"+key)
					}
				case int64:
					args = append(args, fmt.Sprintf("--%s=%d", key, val))
				default:
					args = append(args, fmt.Sprintf("--%s=%v", key, strings.ReplaceAll(fmt.Sprint(val), hints.CAFile, ca)))
				}
			}
			args = append(args, "--"+p.GetHints().GetSecretOption()+"="+p.GetCredential().GetSecret(), "-N", "-B", "-e", "SELECT CURRENT_USER()")
			cmd := exec.Command("mariadb", args...)
			b, err := cmd.CombinedOutput()
			r.OK, r.User = err == nil, strings.TrimSpace(string(b))
			if err != nil {
				r.Error, r.User = strings.TrimSpace(string(b)), ""
				break
			}
		}
		out = append(out, r)
	}
	return version, out
}

func (e *env) caFile(t *testing.T, p *v1.ConnectionParams) string {
	t.Helper()
	pem := p.GetTls().GetCaPem()
	if pem == "" {
		return "/etc/ssl/certs/ca-certificates.crt"
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// unsupported returns the hints' "unsupported: " warning for the cell, if any.
func (e *env) unsupported(t *testing.T, endpoint, driver string) string {
	t.Helper()
	p := e.params(t, endpoint, driver)
	for _, w := range p.GetHints().GetWarnings() {
		if strings.Contains(w, p.GetCredential().GetSecret()) {
			t.Errorf("%s/%s: a warning contains the secret", driver, endpoint)
		}
		if strings.HasPrefix(w, hints.UnsupportedPrefix) {
			return w
		}
	}
	return ""
}

func TestCompatibility(t *testing.T) {
	e := setup(t)
	var doc strings.Builder
	var notes []string
	var profileRows strings.Builder
	var predTime time.Duration
	var noTLSRows strings.Builder
	doc.WriteString(header())
	for _, d := range rows {
		if d.runner == "absent" {
			fmt.Fprintf(&doc, "| %s | — | %s |%s\n", d.name, d.note, strings.Repeat(" |", len(kinds)-1))
			continue
		}
		predStart := time.Now()
		pred := e.predict(t, d.name) // before the marks: the prober's logins are not the row's
		predNoTLS := e.predictKind(t, d.name, noTLS, "")
		predTime += time.Since(predStart)
		e.m8.InvalidateCache()
		mark := len(e.m8.Logins())
		pamMark := len(pamAttemptsAfter(t, e, 0))
		tokenMark := e.tokensReceived.Load()
		start := time.Now()
		version, res := e.runKinds(t, d, append(kinds[:len(kinds):len(kinds)], noTLS))
		resNoTLS := res[len(kinds)]
		res = res[:len(kinds)]
		noTLSRows.WriteString(serverWithoutTLSRow(t, d, predNoTLS, resNoTLS))
		t.Logf("%s %s: %d cases in %v", d.name, version, len(res), time.Since(start).Round(time.Millisecond))
		logins := e.m8.Logins()[mark:]
		profileRows.WriteString(checkPredictions(t, d, profileFor(t, d.name, e.params(t, kinds[0].endpoint, d.name)).Name, pred, res))
		cells := make([]string, len(kinds))
		for i, k := range kinds {
			r := res[i]
			why := e.unsupported(t, k.endpoint, d.name)
			if k.mustRefuse {
				// The row's pam-iam cell makes one PAM attempt (one connect); a
				// second one means this cell sent its token.
				attempts := len(pamAttemptsAfter(t, e, pamMark)) > 1 || e.tokensReceived.Load() > tokenMark
				switch {
				case r.OK:
					cells[i] = "**CONNECTED**"
					t.Errorf("%s/%s: connected to a server whose certificate the endpoint's CA did not sign", d.name, k.key)
				case attempts:
					cells[i] = "**TOKEN SENT**"
					t.Errorf("%s/%s: refused, but the token reached the server first", d.name, k.key)
				case !tlsRefusal.MatchString(r.Error):
					cells[i] = "**FAILED OTHERWISE**"
					t.Errorf("%s/%s: failed, but not on the certificate: %s", d.name, k.key, r.Error)
				default:
					cells[i] = "refused"
				}
				t.Logf("%s/%s: %s", d.name, k.key, r.Error)
				continue
			}
			switch {
			case r.OK && why == "":
				cells[i] = "pass" + sha2Path(k, logins)
				if !strings.HasPrefix(r.User, userOf(k)) {
					t.Errorf("%s/%s: CURRENT_USER() = %q, want %s@...", d.name, k.key, r.User, userOf(k))
				}
			case !r.OK && why != "":
				cells[i] = "no (hint warns)"
				notes = append(notes, fmt.Sprintf("- %s, %s: %s", d.name, strings.ReplaceAll(k.title, "<br>", " "), strings.TrimPrefix(why, hints.UnsupportedPrefix)))
			case r.OK:
				cells[i] = "pass, but hint warns"
				t.Errorf("%s/%s: worked, but the hints say %q", d.name, k.key, why)
			default:
				cells[i] = "**FAIL**"
				t.Errorf("%s/%s: failed and the hints do not warn: %s", d.name, k.key, r.Error)
			}
			if !r.OK {
				t.Logf("%s/%s: %s", d.name, k.key, r.Error)
			}
		}
		fmt.Fprintf(&doc, "| %s | %s | %s |\n", d.name, version, strings.Join(cells, " | "))
	}
	doc.WriteString(footer())
	doc.WriteString("\nWhy the *no* cells cannot work, as the broker's hints say it:\n\n" + strings.Join(notes, "\n") + "\n")
	t.Logf("prober predictions for %d rows: %v", len(rows)-1, predTime.Round(time.Millisecond))
	doc.WriteString(predictionsHeader() + profileRows.String() + e.withoutOptIns(t) + serverWithoutTLSHeader() + noTLSRows.String() + predictionsFooter())
	gridStart := time.Now()
	grid, gridCells := e.runGrid(t)
	t.Logf("differential matrix: %d cells in %v", gridCells, time.Since(gridStart).Round(time.Second))
	doc.WriteString(grid)
	t.Run("node-client", func(t *testing.T) { e.nodeClientTests(t) })
	t.Run("libmysqlclient-cleartext-gate", func(t *testing.T) { e.cleartextGate(t) })
	logs := e.br.Logs.String()
	if logs == "" {
		t.Error("the broker logged nothing: the secret check below would prove nothing")
	}
	for _, secret := range []string{mariadbtest.NativePassword, mariadbtest.Ed25519Password, mariadbtest.TLSPassword, "sha2tls-pw-1", "sha2plain-pw-1", "sha256-pw-1", "notls-pw-1",
		gridSHA2Password, gridSHA256Password, gridNativePassword, "X-Amz-Signature="} {
		if strings.Contains(logs, secret) {
			t.Errorf("the broker's logs contain a secret (%.12s...)", secret)
		}
	}
	path := filepath.Join(e.root, "docs", "COMPATIBILITY.md")
	if *update {
		if err := os.WriteFile(path, []byte(doc.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run go test ./internal/matrix -update)", path, err)
	}
	if diff := cmp.Diff(string(committed), doc.String()); diff != "" {
		t.Errorf("docs/COMPATIBILITY.md differs from this run (-committed +run); run go test ./internal/matrix -update:\n%s", diff)
	}
}

// pamAttemptsAfter returns the MariaDB PAM checker's login attempts after
// the first n: each one is a token the server received.
func pamAttemptsAfter(t *testing.T, e *env, n int) []mariadbtest.PAMAttempt {
	t.Helper()
	a, err := e.mdb.PAMAttempts()
	if err != nil {
		t.Fatalf("read PAM attempts: %v", err)
	}
	if n > len(a) {
		return nil
	}
	return a[n:]
}

func userOf(k kind) string {
	switch k.key {
	case "native":
		return mariadbtest.NativeUser
	case "ed25519":
		return mariadbtest.Ed25519User
	case "pam-iam":
		return mariadbtest.IAMUser
	case "sha2-tls":
		return "sha2tls"
	case "sha2-plain":
		return "sha2plain"
	case "sha256-tls", "sha256-plain":
		return "sha256"
	}
	return "iam"
}

// sha2Path checks, for caching_sha2 kinds, that the driver took both the
// full and the fast path, and says which it took.
func sha2Path(k kind, logins []mysql8test.Login) string {
	if k.sha2User == "" {
		return ""
	}
	var full, fast bool
	for _, l := range logins {
		if l.User == k.sha2User && l.OK {
			full = full || l.FullAuth
			fast = fast || l.FastAuth
		}
	}
	switch {
	case full && fast:
		return ""
	case full:
		return " (full auth only)"
	case fast:
		return " (fast auth only)"
	}
	return " (path unknown)"
}

func header() string {
	var b strings.Builder
	b.WriteString("# Compatibility matrix\n\n")
	b.WriteString("Generated by `go test ./internal/matrix -update` (checked by `make test`: the test fails when this file\n")
	b.WriteString("differs from a run). Each cell: the real driver connected with **only** the broker's params for that\n")
	b.WriteString("driver (`GetConnectionParams`) and ran `SELECT CURRENT_USER()`. *pass*: it worked; *no (hint warns)*:\n")
	b.WriteString("it cannot work and the broker's hints say so in a warning starting with `unsupported:`.\n")
	b.WriteString("caching_sha2 cells connect twice after the server's cache was flushed: full authentication, then fast.\n")
	b.WriteString("The last two columns must be *refused* on the certificate (signed by a CA the endpoint does not trust; naming\n")
	b.WriteString("another host) before any token reaches the server.\n")
	b.WriteString("Peers: MariaDB 10.11 from Debian (`internal/testpeer/mariadb`, PAM account verifying real SigV4 tokens)\n")
	b.WriteString("and the MySQL 8 protocol peer (`internal/testpeer/mysql8`, go-mysql v1.16.0, IAM verified like RDS Proxy).\n\n")
	b.WriteString("| driver | version |")
	sep := "|---|---|"
	for _, k := range kinds {
		b.WriteString(" " + k.title + " |")
		sep += "---|"
	}
	b.WriteString("\n" + sep + "\n")
	return b.String()
}

func footer() string {
	return "\nPython drivers run through the `connbroker` helpers (`clients/python`), one process per driver;\n" +
		"go-sql-driver through `clients/go`; mysql2 through `clients/node`; the mariadb CLI\n" +
		"gets the hints' options as long flags.\n"
}
