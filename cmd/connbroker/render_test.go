package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testbroker"
	"github.com/connbroker/connbroker/internal/testlog"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"sigs.k8s.io/yaml"
)

// refreshHead makes IAM tokens refresh every 4 s.
const refreshHead = "iam: {refresh_after: 4s}\n"

// cliCtx is cliEnv with a context (cancel it to stop --watch).
func cliCtx(ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb testlog.Buffer
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = exitCode(run(ctx, args, look, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func writeTemplate(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tmpl")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// mariadbWith runs the real mariadb client with an option file.
func mariadbWith(t *testing.T, cnf string) string {
	t.Helper()
	out, err := exec.Command("mariadb", "--defaults-extra-file="+cnf, "-N", "-B", "-e", "SELECT CURRENT_USER()").CombinedOutput()
	if err != nil {
		t.Errorf("mariadb --defaults-extra-file=%s: %v\n%s", cnf, err, out)
	}
	return strings.TrimSpace(string(out))
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestRenderMyCnf: a my.cnf template rendered once is used by the real
// mariadb client (IAM over verified TLS with the CA written beside it, and
// a password account); the files are 0600; dsn and json render.
func TestRenderMyCnf(t *testing.T) {
	br, _, _ := startIAMStack(t)
	env := map[string]string{"PATH": os.Getenv("PATH")}
	tmpl := writeTemplate(t, "# {{.User}} at {{.Host}}:{{.Port}}\n{{mycnf}}")
	for _, tt := range []struct{ endpoint, user string }{{"local-iam", mariadbtest.IAMUser}, {"local-native", mariadbtest.NativeUser}} {
		t.Run(tt.endpoint, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "my.cnf")
			code, stdout, errOut := cliEnv(env, "--broker="+br.Addr, "render", tt.endpoint, "--template", tmpl, "--out", out)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, errOut)
			}
			if got := mariadbWith(t, out); got != tt.user+"@%" {
				t.Errorf("client logged in as %q, want %s@%%", got, tt.user)
			}
			for _, f := range []string{out, out + ".ca.pem"} {
				if m := mode(t, f); m != 0o600 {
					t.Errorf("%s mode %o", f, m)
				}
			}
			body, _ := os.ReadFile(out)
			if !strings.HasPrefix(string(body), "# "+tt.user+" at 127.0.0.1:") || !strings.Contains(string(body), "ssl-ca="+out+".ca.pem\n") {
				t.Errorf("rendered:\n%s", body)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2 {
				t.Errorf("files in the out dir: %v", ents)
			}
		})
	}
	// dsn and json.
	secret := secretOf(t, br, "local-native")
	dir := t.TempDir()
	out := filepath.Join(dir, "app.env")
	tmpl = writeTemplate(t, `GO={{dsn "go-sql-driver"}}
SA={{dsn "sqlalchemy+pymysql"}}
JDBC={{dsn "connector-j"}}
J={{json .Credential}}
`)
	code, stdout, errOut := cliEnv(env, "--broker="+br.Addr, "render", "local-native", "--template", tmpl, "--out", out)
	if code != 0 {
		t.Fatalf("dsn: exit %d\n%s%s", code, stdout, errOut)
	}
	body, _ := os.ReadFile(out)
	for _, want := range []string{"GO=app_native:" + secret + "@tcp(127.0.0.1:", "SA=mysql+pymysql://app_native:" + secret + "@127.0.0.1:",
		"?password=" + secret + "&", `"secret":"` + secret + `","source":"file"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
}

// hupCounter starts a process that appends a line to file at each SIGHUP
// and returns its pid.
func hupCounter(t *testing.T, file string) int {
	t.Helper()
	child := exec.Command("sh", "-c", `trap 'echo hup >> "$0"' HUP; while :; do sleep 0.05; done`, file)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	time.Sleep(200 * time.Millisecond) // the trap is set
	return child.Process.Pid
}

// startWatch runs `render ENDPOINT --watch` with {{mycnf}} into out,
// signalling a hupCounter writing to hups; stop ends it and returns its
// exit code and stderr.
func startWatch(t *testing.T, brokerAddr, endpoint string) (out, hups string, stop func() (int, string)) {
	t.Helper()
	dir := t.TempDir()
	out, hups = filepath.Join(dir, "my.cnf"), filepath.Join(dir, "hups")
	pid := hupCounter(t, hups)
	env := map[string]string{"PATH": os.Getenv("PATH")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		defer close(done)
		code, _, errOut = cliCtx(ctx, env, "--broker="+brokerAddr, "render", endpoint, "--template", writeTemplate(t, "{{mycnf}}"),
			"--out", out, "--watch", "--signal", "HUP", "--pid", fmt.Sprint(pid))
	}()
	stopped := false
	stop = func() (int, string) {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
		return code, errOut
	}
	t.Cleanup(func() { stop() })
	return out, hups, stop
}

// TestRenderWatch: render --watch keeps a my.cnf current across 4 s
// refresh_after windows: each version logs the real mariadb client in,
// the secret changes, and a child process gets SIGHUP once per change.
func TestRenderWatch(t *testing.T) {
	br, _, _ := startIAMStackWith(t, refreshHead)
	out, hups, stop := startWatch(t, br.Addr, "local-iam")
	secrets := map[string]bool{}
	deadline := time.Now().Add(11 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(out)
		if err == nil {
			s := string(b)
			if !secrets[s] {
				secrets[s] = true
				if got := mariadbWith(t, out); got != mariadbtest.IAMUser+"@%" {
					t.Errorf("version %d logged in as %q", len(secrets), got)
				}
				if m := mode(t, out); m != 0o600 {
					t.Errorf("mode %o", m)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	code, errOut := stop()
	if code != 0 {
		t.Errorf("render --watch exit %d: %s", code, errOut)
	}
	// A refresh can land after the sampling loop's last read (on a loaded
	// machine the logins above take long): count the last version too.
	if b, err := os.ReadFile(out); err == nil {
		secrets[string(b)] = true
	}
	b, _ := os.ReadFile(hups)
	n := strings.Count(string(b), "hup")
	// 11 s with a 4 s refresh_after: the initial version and 2 refreshes.
	if len(secrets) < 3 || n != len(secrets) {
		t.Errorf("%d versions of the file, %d SIGHUPs (want >= 3 and one per version)\n%s", len(secrets), n, errOut)
	}
}

// TestRenderNoTornReads: a reader looping during many re-renders (each a
// new secret, files of different sizes) always sees a whole file.
func TestRenderNoTornReads(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "my.cnf")
	g := &globals{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, lookupEnv: func(string) (string, bool) { return "", false }}
	r, err := newRenderer(context.Background(), g, "e", renderOptions{template: writeTemplate(t, "[client]\nuser={{.User}}\npassword={{.Credential.Secret}}\n# end\n"), out: out, driver: "mariadb-cli"})
	if err != nil {
		t.Fatal(err)
	}
	params := func(i int) *v1.ConnectionParams {
		return &v1.ConnectionParams{User: "u", Credential: &v1.Credential{Secret: strings.Repeat(fmt.Sprint(i%10), 1000+(i%7)*9000)}}
	}
	if err := r.apply(params(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, torn atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(out)
			reads.Add(1)
			s := string(b)
			if err != nil || !strings.HasPrefix(s, "[client]\nuser=u\npassword=") || !strings.HasSuffix(s, "\n# end\n") {
				torn.Add(1)
			}
		}
	}()
	for i := 1; i <= 400; i++ {
		if err := r.apply(params(i)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 || reads.Load() < 100 {
		t.Errorf("%d reads, %d torn", reads.Load(), torn.Load())
	}
	if m := mode(t, out); m != 0o600 {
		t.Errorf("mode %o", m)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}

// TestExecRefresh: a long-running exec child sees MYSQL_PWD_FILE and
// MYSQL_DEFAULTS_FILE rewritten across 4 s refresh_after windows, each
// version logging the real client in; the files are gone after.
func TestExecRefresh(t *testing.T) {
	br, _, _ := startIAMStackWith(t, refreshHead)
	env := map[string]string{"PATH": os.Getenv("PATH")}
	script := `end=$(( $(date +%s) + 10 )); last=
while [ "$(date +%s)" -lt "$end" ]; do
  cur=$(cat "$MYSQL_PWD_FILE")
  if [ "$cur" != "$last" ]; then
    echo "version $(stat -c %a "$MYSQL_PWD_FILE") $(mariadb --defaults-extra-file="$MYSQL_DEFAULTS_FILE" -N -B -e 'SELECT CURRENT_USER()')"
    last=$cur
  fi
  sleep 0.2
done
echo "dir $(dirname "$MYSQL_PWD_FILE")"`
	code, out, errOut := cliEnv(env, "--broker="+br.Addr, "exec", "local-iam", "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	versions := 0
	for _, l := range lines[:len(lines)-1] {
		if l != "version 600 "+mariadbtest.IAMUser+"@%" {
			t.Errorf("line %q", l)
		}
		versions++
	}
	if versions < 3 {
		t.Errorf("the child saw %d versions of the files in 10 s with a 4 s refresh_after, want >= 3:\n%s%s", versions, out, errOut)
	}
	if d, ok := strings.CutPrefix(lines[len(lines)-1], "dir "); !ok {
		t.Errorf("last line %q", lines[len(lines)-1])
	} else if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("%s still there", d)
	}
}

// TestRenderBadInput: each bad input gets a clear error and its exit code,
// and nothing is written.
func TestRenderBadInput(t *testing.T) {
	br, _, noSecretFile := startIAMStack(t)
	env := map[string]string{"PATH": os.Getenv("PATH")}
	good := writeTemplate(t, "{{mycnf}}")
	tmplDir := t.TempDir()
	aFile := filepath.Join(tmplDir, "file")
	os.WriteFile(aFile, nil, 0o600)
	os.Remove(noSecretFile)
	for _, tt := range []struct {
		name     string
		args     []string
		template string
		out      string
		code     int
		want     string
	}{
		{"unknown endpoint", []string{"nope"}, "", "", cmdline.Usage, `endpoint "nope" is not configured`},
		{"parse error", []string{"local-native"}, "line one\n[client]\nuser={{.User}} pw={{.Credential.Secret | nosuch}}\n", "", cmdline.Usage, "tmpl:3:19: function \"nosuch\" not defined"},
		{"unclosed", []string{"local-native"}, "a\n  {{if .User}}x\n", "", cmdline.Usage, "tmpl:3:"},
		{"exec error", []string{"local-native"}, "ok\n {{.Nope}}\n", "", cmdline.Usage, "tmpl:2:3: executing"},
		{"dsn without a form", []string{"local-native"}, `{{dsn "pymysql"}}`, "", cmdline.Usage, `dsn "pymysql": the broker renders no DSN`},
		{"unknown driver", []string{"local-native"}, `{{dsn "nodriver"}}`, "", cmdline.Usage, "nodriver"},
		{"missing dir", []string{"local-native"}, "", filepath.Join(tmplDir, "missing", "my.cnf"), cmdline.Usage, "cannot write"},
		{"dir is a file", []string{"local-native"}, "", filepath.Join(aFile, "my.cnf"), cmdline.Usage, "not a directory"},
		{"exec and signal", []string{"local-native", "--exec", "true", "--signal", "HUP", "--pid", "1"}, "", "", cmdline.Usage, "exclude"},
		{"signal without pid", []string{"local-native", "--signal", "HUP"}, "", "", cmdline.Usage, "go together"},
		{"bad signal", []string{"local-native", "--signal", "KILLME", "--pid", "1"}, "", "", cmdline.Usage, "--signal"},
		{"no credential", []string{"no-secret"}, "", "", cmdline.Failed, "no-secret"},
		{"watch: no credential", []string{"no-secret", "--watch"}, "", "", cmdline.Failed, "no-secret"},
		{"watch: unknown endpoint", []string{"nope", "--watch"}, "", "", cmdline.Usage, `endpoint "nope" is not configured`},
		{"exec fails", []string{"local-native", "--exec", "exit 4"}, "", "", cmdline.Failed, "--exec"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := tt.out
			if out == "" {
				out = filepath.Join(dir, "my.cnf")
			}
			tmpl := good
			if tt.template != "" {
				tmpl = filepath.Join(t.TempDir(), "tmpl")
				os.WriteFile(tmpl, []byte(tt.template), 0o600)
			}
			args := append([]string{"--broker=" + br.Addr, "render"}, tt.args...)
			code, _, errOut := cliEnv(env, append(args, "--template", tmpl, "--out", out)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tt.code, errOut, tt.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 && tt.name != "exec fails" {
				t.Errorf("files written: %v", ents)
			}
		})
	}
	for _, watch := range []string{"--watch=false", "--watch"} {
		outDir := t.TempDir()
		code, _, errOut := cliEnv(env, "--broker=127.0.0.1:1", "render", "local-native", watch, "--template", good, "--out", filepath.Join(outDir, "x"))
		if code != cmdline.BrokerUnreachable || !strings.Contains(errOut, "not reachable") {
			t.Errorf("broker unreachable %s: exit %d: %s", watch, code, errOut)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
			t.Errorf("files written: %v", ents)
		}
	}
	code, _, errOut := cliEnv(env, "--broker="+br.Addr, "render", "local-native", "--template", filepath.Join(tmplDir, "missing.tmpl"), "--out", filepath.Join(t.TempDir(), "x"))
	if code != cmdline.Usage || !strings.Contains(errOut, "missing.tmpl") {
		t.Errorf("missing template: exit %d: %s", code, errOut)
	}
	code, _, errOut = cliEnv(env, "--broker="+br.Addr, "render", "local-native", "--out", filepath.Join(t.TempDir(), "x"))
	if code != cmdline.Usage || !strings.Contains(errOut, "--template") {
		t.Errorf("no --template: exit %d: %s", code, errOut)
	}
}

// TestRenderSidecarTemplate: the template of the Kubernetes sidecar
// example (deploy/kubernetes/examples/render-sidecar), rendered by the real
// command, logs the real mariadb client in.
func TestRenderSidecarTemplate(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/examples/render-sidecar/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil || cm.Data["my.cnf.tmpl"] == "" {
		t.Fatalf("configmap: %v %v", err, cm.Data)
	}
	br, _, _ := startIAMStack(t)
	out := renderOnce(t, br.Addr, "local-iam", cm.Data["my.cnf.tmpl"], t.TempDir(), "my.cnf")
	if got := mariadbWith(t, out); got != mariadbtest.IAMUser+"@%" {
		t.Errorf("logged in as %q", got)
	}
	body, _ := os.ReadFile(out)
	if !strings.Contains(string(body), "credential valid until ") || strings.Contains(string(body), "until 00:00:00") {
		t.Errorf("rendered:\n%s", body)
	}
}

// flakyProxy forwards TCP connections to target; down cuts every
// connection and stops listening, up listens again on the same address.
type flakyProxy struct {
	addr, target string
	mu           sync.Mutex
	lis          net.Listener
	conns        []net.Conn
}

func (p *flakyProxy) up(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.lis, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *flakyProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lis.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestRenderWatchReconnects: when the broker goes away, render --watch
// keeps the file, reconnects with backoff when it is back, and goes on
// re-rendering; the unchanged params of the reconnection send no signal.
func TestRenderWatchReconnects(t *testing.T) {
	br, _, _ := startIAMStackWith(t, refreshHead)
	proxy := &flakyProxy{target: br.Addr}
	proxy.up(t)
	t.Cleanup(proxy.down)
	out, hups, stop := startWatch(t, proxy.addr, "local-iam")
	waitFile := func(old string) string {
		for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(out); err == nil && string(b) != old {
				return string(b)
			}
		}
		t.Fatalf("the file did not change from %q", old)
		return ""
	}
	first := waitFile("")
	proxy.down()
	time.Sleep(1500 * time.Millisecond)
	if b, _ := os.ReadFile(out); string(b) != first {
		t.Errorf("the file changed while the broker was away")
	}
	proxy.up(t)
	second := waitFile(first)
	if got := mariadbWith(t, out); got != mariadbtest.IAMUser+"@%" {
		t.Errorf("after the reconnection the client logged in as %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	code, errOut := stop()
	if code != 0 || !strings.Contains(errOut, "reconnecting in") {
		t.Errorf("exit %d; stderr:\n%s", code, errOut)
	}
	b, _ := os.ReadFile(hups)
	if n := strings.Count(string(b), "hup"); n != 2 || second == first {
		t.Errorf("%d SIGHUPs for 2 versions of the file\n%s", n, errOut)
	}
}

// TestRenderDSNMySQL2: {{dsn "mysql2"}} is a URL the real mysql2 (Node)
// logs in with: the IAM account (enableCleartextPlugin, ssl with the CA
// PEM and verifyIdentity) and the password account.
func TestRenderDSNMySQL2(t *testing.T) {
	testtier.Integration(t, "MariaDB and Node's mysql2")
	modules, err := filepath.Abs("../../clients/node/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "mysql2")); err != nil {
		t.Fatalf("mysql2 is not installed in clients/node (make matrix-deps): %v", err)
	}
	br, _, _ := startIAMStack(t)
	prog := `
const mysql = require("mysql2/promise");
(async () => {
  const url = require("fs").readFileSync(process.argv[1], "utf8").trim();
  const c = await mysql.createConnection(url);
  const [rows] = await c.query("SELECT CURRENT_USER() AS u, (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher') <> '' AS tls");
  console.log(rows[0].u + " " + rows[0].tls);
  await c.end();
})().catch(e => { console.error(e.message); process.exit(1); });
`
	for _, tt := range []struct{ endpoint, user string }{{"local-iam", mariadbtest.IAMUser}, {"local-native", mariadbtest.NativeUser}} {
		out := renderOnce(t, br.Addr, tt.endpoint, `{{dsn "mysql2"}}`, t.TempDir(), "url")
		cmd := exec.Command("node", "-e", prog, out)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
		got, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != tt.user+"@% 1" {
			t.Errorf("%s: mysql2: %v\n%s", tt.endpoint, err, got)
		}
	}
}

// TestRenderWatchRotation: when the password behind an endpoint rotates,
// render --watch rewrites the file at once (WATCH_REASON_ROTATED, long
// before any refresh) and signals; the new file logs the client in.
func TestRenderWatchRotation(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	br := testbroker.Start(t, fmt.Sprintf(`watch: {poll: 200ms}
endpoints:
  rotating:
    host: 127.0.0.1
    port: %d
    user: %s
    database: appdb
    auth: password
    password: {file: %s}
    tls: {mode: verify-identity, ca: %s}
`, db.Port, mariadbtest.NativeUser, pw, db.CAFile))
	out, hups, stop := startWatch(t, br.Addr, "rotating")
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, _ := os.ReadFile(out); strings.Contains(string(b), want) {
				return
			}
		}
		t.Fatalf("the file never held %q", want)
	}
	waitFor(`password="` + mariadbtest.NativePassword + `"`)
	root, err := db.RootDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const rotated = "rotated-pass-2#x"
	if _, err := root.Exec("ALTER USER '" + mariadbtest.NativeUser + "'@'%' IDENTIFIED BY '" + rotated + "'"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	waitFor(`password="` + rotated + `"`)
	t.Logf("re-rendered %v after the rotation", time.Since(started).Round(time.Millisecond))
	if got := mariadbWith(t, out); got != mariadbtest.NativeUser+"@%" {
		t.Errorf("after the rotation the client logged in as %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	code, errOut := stop()
	b, _ := os.ReadFile(hups)
	if n := strings.Count(string(b), "hup"); code != 0 || n != 2 {
		t.Errorf("exit %d, %d SIGHUPs for 2 versions\n%s", code, n, errOut)
	}
}
