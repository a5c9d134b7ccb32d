package doctortest

// The preflight proof (issue 16 item 4): real applications, each in its own
// environment, get their params from the real broker through the helpers
// and log in; each prints the ClientEnvironment its helper would send, and
// those feed the broker's inventory. Preflight predicts each change; then
// the change is made for real on the peer (and in the broker's endpoint)
// and every application reconnects. The prediction must match reality in
// every cell: before and after, works / breaks / works only while the
// caching_sha2_password cache is warm.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/internal/testbroker"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server"
)

const (
	proofUser     = "app"
	proofPassword = "proof-pw-1"
)

// proofApp is one real application.
type proofApp struct {
	name string
	argv func(broker, endpoint string) []string
	env  []string
}

// appRun is one run of an application: its report and its login.
type appRun struct {
	Env   json.RawMessage `json:"env"`
	OK    bool            `json:"ok"`
	Error string          `json:"error"`
}

func (a proofApp) run(t *testing.T, broker string) appRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := a.argv(broker, "orders")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIBMYSQL_") && !strings.HasPrefix(kv, "CONNBROKER_") && !strings.HasPrefix(kv, "PYTHON") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "CONNBROKER_ADDR="+broker), a.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("app %s: %v\nstdout: %s\nstderr: %s", a.name, err, stdout.String(), stderr.String())
	}
	var r appRun
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Fatalf("app %s: %v\nstdout: %s\nstderr: %s", a.name, err, stdout.String(), stderr.String())
	}
	return r
}

// proofApps builds the applications: four virtualenvs, a Node app on
// clients/node's mysql2 and a Go app on clients/go.
func proofApps(t *testing.T, root string) []proofApp {
	t.Helper()
	script := filepath.Join(root, "internal", "doctortest", "proofapps", "app.py")
	py := func(name, driver string, spec venvSpec, env []string) proofApp {
		python := buildVenv(t, root, spec)
		return proofApp{name: name, env: env, argv: func(b, e string) []string { return []string{python, script, b, e, driver} }}
	}
	noPlugins := t.TempDir() // a MariaDB Connector/C plugin directory without the dynamic auth plugins
	node := filepath.Join(root, "clients", "node")
	if _, err := os.Stat(filepath.Join(node, "node_modules", "mysql2", "package.json")); err != nil {
		t.Fatalf("clients/node has no mysql2: run `make proof-deps` (npm ci): %v", err)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for the Node app: %v", err)
	}
	goapp := filepath.Join(t.TempDir(), "goapp")
	build := exec.Command("go", "build", "-o", goapp, "./internal/doctortest/proofapps/goapp")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the Go app: %v\n%s", err, out)
	}
	var apps []proofApp
	for _, s := range []struct {
		name, driver string
		spec         venvSpec
		env          []string
	}{
		{"pymysql-1.0.2", "pymysql", venvSpec{name: "proof-pymysql-102", pypi: []string{"PyMySQL==1.0.2"}}, nil},
		{"pymysql-1.2-crypto", "pymysql", venvSpec{name: "proof-pymysql-crypto", link: []string{"PyMySQL", "cryptography", "cffi", "pycparser"}}, nil},
		{"connector-pure", "mysql-connector-python-pure", venvSpec{name: "proof-connector-pure", link: []string{"mysql-connector-python"}, noExt: true}, nil},
		{"mysqlclient", "mysqlclient", venvSpec{name: "proof-mysqlclient", link: []string{"mysqlclient"}}, nil},
		{"mysqlclient-no-plugins", "mysqlclient", venvSpec{name: "proof-mysqlclient-noplugins", link: []string{"mysqlclient"}}, []string{"MARIADB_PLUGIN_DIR=" + noPlugins}},
	} {
		apps = append(apps, py(s.name, s.driver, s.spec, s.env))
	}
	apps = append(apps,
		proofApp{name: "node-mysql2", argv: func(_, e string) []string {
			return []string{nodeBin, filepath.Join(root, "internal", "doctortest", "proofapps", "app.js"), node, e}
		}},
		proofApp{name: "go-sql-driver", argv: func(b, e string) []string { return []string{goapp, b, e} }},
	)
	return apps
}

// proofScenario is one change: the endpoint and peer before, the same
// after the change.
type proofScenario struct {
	name    string
	change  string
	beforeP func(addr string) *mysql8test.Server
	before  func(port int) string // the endpoint's YAML body
	afterP  func(addr string) *mysql8test.Server
	after   func(port int) string
	sha2    bool   // the after account is caching_sha2_password: test the cache
	caPEM   []byte // the ca=FILE change's file
}

func TestPreflightProof(t *testing.T) {
	testtier.Integration(t, "the venv's drivers (make venv), PyMySQL 1.0.2 and clients/node's mysql2 (make proof-deps), node, go")
	started := time.Now()
	root := moduleRoot(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(proofPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srvTLS, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// The CA the server's certificate moves to (rds-ca-2019 to
	// rds-ca-rsa2048-g1, say): the endpoint's bundle does not hold it.
	newTLS, newCAPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	newCAFile := filepath.Join(dir, "new-ca.pem")
	if err := os.WriteFile(newCAFile, newCAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	peerWith := func(cert *tls.Config, ca []byte, plugin string, requireTLS bool) func(string) *mysql8test.Server {
		return func(addr string) *mysql8test.Server {
			return mysql8test.StartForTest(t, mysql8test.Options{Addr: addr, DefaultPlugin: mysql8test.PluginNative, TLS: cert, CAPEM: ca,
				Accounts: []mysql8test.Account{{User: proofUser, Password: proofPassword, Plugin: plugin}}, RequireSecureTransport: requireTLS})
		}
	}
	peer := func(plugin string, requireTLS bool) func(string) *mysql8test.Server {
		return peerWith(srvTLS, caPEM, plugin, requireTLS)
	}
	endpoint := func(plugin, tls string) func(int) string {
		return func(port int) string {
			return fmt.Sprintf("    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: app\n    auth: password\n    plugin: %s\n    password: {file: %s}\n    tls: %s\n",
				port, proofUser, plugin, pwFile, tls)
		}
	}
	verified := "{mode: verify-identity, ca: " + caFile + "}"
	scenarios := []proofScenario{
		{name: "caching_sha2 over plain TCP", change: "plugin=caching_sha2_password", sha2: true,
			beforeP: peer(mysql8test.PluginNative, false), before: endpoint(mysql8test.PluginNative, "{mode: disabled}"),
			afterP: peer(mysql8test.PluginCachingSHA2, false), after: endpoint(mysql8test.PluginCachingSHA2, "{mode: disabled}")},
		{name: "require TLS", change: "require-tls",
			beforeP: peer(mysql8test.PluginNative, false), before: endpoint(mysql8test.PluginNative, "{mode: preferred}"),
			afterP: peer(mysql8test.PluginNative, true), after: endpoint(mysql8test.PluginNative, "{mode: preferred}")},
		{name: "moved to IAM", change: "auth=iam",
			beforeP: peer(mysql8test.PluginNative, false), before: endpoint(mysql8test.PluginNative, verified),
			afterP: func(addr string) *mysql8test.Server {
				e, err := rdslike.Start(context.Background(), rdslike.Options{Addr: addr, AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
					Region: testbroker.Region, IAMUsers: []string{proofUser}, TLS: srvTLS, CAPEM: caPEM})
				if err != nil {
					t.Fatalf("start the IAM peer: %v", err)
				}
				t.Cleanup(func() { _ = e.Close() })
				return e.Server
			},
			after: func(port int) string {
				return fmt.Sprintf("    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: app\n    auth: iam\n    region: %s\n    tls: %s\n", port, proofUser, testbroker.Region, verified)
			}},
		{name: "CA rotated", change: "ca=" + newCAFile, caPEM: newCAPEM,
			beforeP: peer(mysql8test.PluginNative, false), before: endpoint(mysql8test.PluginNative, verified),
			afterP: peerWith(newTLS, newCAPEM, mysql8test.PluginNative, false), after: endpoint(mysql8test.PluginNative, verified)},
	}
	br := testbroker.Start(t, "endpoints:\n  orders:\n"+endpoint(mysql8test.PluginNative, "{mode: disabled}")(1))
	setEndpoint := func(body string) {
		t.Helper()
		cfg, err := config.Parse("proof", []byte("endpoints:\n  orders:\n"+body))
		if err != nil {
			t.Fatalf("endpoint config: %v\n%s", err, body)
		}
		br.Service.SetConfig(cfg)
	}
	apps := proofApps(t, root)
	cbBin := filepath.Join(t.TempDir(), "connbroker")
	if out, err := exec.Command("go", "build", "-o", cbBin, filepath.Join(root, "cmd", "connbroker")).CombinedOutput(); err != nil {
		t.Fatalf("build connbroker: %v\n%s", err, out)
	}
	t.Logf("apps ready in %s", time.Since(started).Round(time.Millisecond))

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			p := sc.beforeP("127.0.0.1:0")
			addr, port := p.Addr, p.Port
			setEndpoint(sc.before(port))
			real := map[string][2]string{}
			var inv []preflight.App
			for _, a := range apps {
				r := a.run(t, br.Addr)
				var pe v1.ClientEnvironment
				if err := protojson.Unmarshal(r.Env, &pe); err != nil {
					t.Fatalf("%s's environment: %v\n%s", a.name, err, r.Env)
				}
				inv = append(inv, preflight.App{Caller: a.name, Env: *server.EnvironmentFromProto(&pe), Count: 1})
				real[a.name] = [2]string{outcome(r.OK), ""}
				if !r.OK {
					t.Logf("%s before: %s", a.name, r.Error)
				}
			}
			br.Service.SetInventory(preflight.Static{List: map[string][]preflight.App{"orders": inv}})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := br.Client.Preflight(ctx, &v1.PreflightRequest{Endpoint: "orders", Changes: []*v1.PreflightChange{{Spec: sc.change, CaPem: sc.caPEM}}})
			if err != nil {
				t.Fatalf("Preflight: %v", err)
			}
			if resp.GetStatus() != v1.PreflightStatus_PREFLIGHT_STATUS_OK {
				t.Fatalf("status %s, want OK", resp.GetStatus())
			}

			// The same through the CLI, as change management runs it.
			cli := exec.Command(cbBin, "preflight", "orders", "--change", sc.change, "--broker", br.Addr)
			out, err := cli.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[resp.GetAnyBreaks()]; code != want {
				t.Errorf("connbroker preflight exit %d, want %d\n%s", code, want, out)
			}
			t.Logf("$ connbroker preflight orders --change %s  (exit %d)\n%s", sc.change, code, out)

			// The change, for real: the peer and the broker's endpoint.
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			p = sc.afterP(addr)
			setEndpoint(sc.after(port))
			anyBreaks := false
			for _, a := range apps {
				p.InvalidateCache() // a restart, FLUSH PRIVILEGES: full authentication
				r := a.run(t, br.Addr)
				got := outcome(r.OK)
				if !r.OK && sc.sha2 {
					warmCache(t, p)
					if w := a.run(t, br.Addr); w.OK {
						got = string(preflight.OutcomeWarmCacheOnly)
					}
				}
				real[a.name] = [2]string{real[a.name][0], got}
				anyBreaks = anyBreaks || got != string(preflight.OutcomeWorks)
				if !r.OK {
					t.Logf("%s after: %s", a.name, r.Error)
				}
			}

			var tab bytes.Buffer
			w := tabwriter.NewWriter(&tab, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "APP\tPREDICTED BEFORE\tREAL BEFORE\tPREDICTED AFTER\tREAL AFTER\tFINDING")
			seen := map[string]bool{}
			for _, g := range resp.GetGroups() {
				for _, pa := range g.GetApps() {
					name := g.GetCaller()
					seen[name] = true
					pb, pa2 := protoOutcome(pa.GetBefore()), protoOutcome(pa.GetAfter())
					rb, ra := real[name][0], real[name][1]
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, pb, rb, pa2, ra, pa.GetFinding().GetCode())
					if pb != rb {
						t.Errorf("%s before: predicted %s, real %s", name, pb, rb)
					}
					if pa2 != ra {
						t.Errorf("%s after %s: predicted %s, real %s (finding %s: %s)", name, sc.change, pa2, ra, pa.GetFinding().GetCode(), pa.GetFinding().GetCause())
					}
				}
			}
			_ = w.Flush()
			t.Logf("%s:\n%s", sc.change, tab.String())
			for _, a := range apps {
				if !seen[a.name] {
					t.Errorf("the preflight has no result for %s", a.name)
				}
			}
			if resp.GetAnyBreaks() != anyBreaks {
				t.Errorf("any_breaks = %t, reality %t", resp.GetAnyBreaks(), anyBreaks)
			}
		})
	}
	t.Logf("proof took %s", time.Since(started).Round(time.Millisecond))
}

func outcome(ok bool) string {
	if ok {
		return string(preflight.OutcomeWorks)
	}
	return string(preflight.OutcomeBreaks)
}

func protoOutcome(o v1.PreflightOutcome) string {
	switch o {
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS:
		return string(preflight.OutcomeWorks)
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_BREAKS:
		return string(preflight.OutcomeBreaks)
	case v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS_WHILE_CACHE_WARM:
		return string(preflight.OutcomeWarmCacheOnly)
	}
	return o.String()
}

// warmCache logs the account in once with full authentication over TLS,
// as any other client of the account would: the server then caches it.
func warmCache(t *testing.T, p *mysql8test.Server) {
	t.Helper()
	tc := p.ClientTLS("127.0.0.1")
	tc.MinVersion = tls.VersionTLS12
	_, err := (&handshake.Probe{}).Run(context.Background(), handshake.Target{Addr: p.Addr, User: proofUser, Secret: proofPassword, TLS: tc,
		Profile: handshake.PyMySQL(true, true), RevealWithoutVerifiedTLS: []string{handshake.AnyPlugin}})
	if err != nil {
		t.Fatalf("warm the cache: %v", err)
	}
}
