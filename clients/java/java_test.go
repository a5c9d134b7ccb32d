// Package javahelper_test runs the Java helper (clients/java, built by
// `make java-build`) with HikariCP against a real broker and the RDS-like
// MySQL 8 peer: IAM tokens signed by the broker, verified (SigV4) by the
// peer over TLS with mysql_clear_password, refused once older than a
// short window.
package javahelper_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker/inventory"

	"github.com/connbroker/connbroker/internal/iamverify"
	"github.com/connbroker/connbroker/internal/testbroker"
	"github.com/connbroker/connbroker/internal/testlog"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// window is how long the peer of TestHikariAcrossRefreshWindows accepts a
// token after it was signed; the broker re-signs after refresh_after 1s, so
// each window needs new tokens. (4 s, as internal/matrix's refresh test,
// is too tight for a JVM on a loaded 2-core machine: X-Amz-Date has whole
// seconds, and a starved JVM can take seconds between fetch and login.)
const window = 6 * time.Second

// tokenLifetime is what RDS accepts: 15 minutes, for the other tests.
const tokenLifetime = 15 * time.Minute

// rig is a broker in front of the RDS-like peer, and the Java class path.
type rig struct {
	peer      *mysql8test.Server
	caPEM     []byte
	broker    *testbroker.Broker
	stop      func()
	audit     *testlog.Buffer
	cfg       string // the broker's configuration
	classpath string

	window   time.Duration // the peer refuses tokens older than this
	mu       sync.Mutex
	calls    []paramsCall         // GetConnectionParams from Java clients, as the broker answered them
	tokens   map[string]time.Time // token -> first login with it
	refuse   int                  // refuse this many more logins with 1045
	refused  int
	tooOld   int
	accepted int
}

func newRig(t *testing.T, window time.Duration) *rig {
	t.Helper()
	testtier.Integration(t, "java and the clients/java build (make java-build)")
	r := &rig{tokens: map[string]time.Time{}, audit: &testlog.Buffer{}, window: window}
	r.classpath = classpath(t)
	tlsCfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	var port int
	r.peer = mysql8test.StartForTest(t, mysql8test.Options{
		TLS: tlsCfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{{User: "iam", Plugin: mysql8test.PluginClearPassword, RequireTLS: true}},
		ClearPasswordVerifier: func(user, secret string, _ bool) error {
			if err := iamverify.Verify(iamverify.Policy{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey,
				Region: testbroker.Region, Host: "127.0.0.1", Port: port}, user, secret); err != nil {
				return err
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.refuse > 0 {
				r.refuse--
				r.refused++
				return fmt.Errorf("refused for the test (a rotation race)")
			}
			signed, err := tokenSigned(secret)
			if err != nil {
				return err
			}
			if age := time.Since(signed); age > r.window {
				r.tooOld++
				return fmt.Errorf("token is %v old, this peer accepts %v", age.Round(time.Second), r.window)
			}
			if _, ok := r.tokens[secret]; !ok {
				r.tokens[secret] = time.Now()
			}
			r.accepted++
			return nil
		},
	})
	port = r.peer.Port
	r.caPEM = caPEM
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("iam: {refresh_after: 1s}\nendpoints:\n  iam:\n    host: 127.0.0.1\n    port: %d\n    user: iam\n    database: app\n    auth: iam\n    region: %s\n    tls: {mode: verify-identity, ca: %s}\n",
		r.peer.Port, testbroker.Region, ca)
	r.cfg = cfg
	r.broker, r.stop, err = testbroker.NewWith(cfg, testbroker.Options{Audit: r.audit, Unary: r.record})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := r.stop
	r.stop = func() { once.Do(stop) }
	t.Cleanup(r.stop)
	return r
}

// paramsCall is one GetConnectionParams of a Java client and the broker's
// answer as it went on the wire.
type paramsCall struct {
	req  *v1.GetConnectionParamsRequest
	resp *v1.ConnectionParams
	size int // bytes of the GetConnectionParamsResponse
}

// javaDriver is the driver the Java helper asks for (ConnectorJ.DRIVER).
const javaDriver = "connector-j"

// record is the broker's interceptor: it keeps every answered
// GetConnectionParams for the Java helper's driver.
func (r *rig) record(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	in, ok := req.(*v1.GetConnectionParamsRequest)
	if !ok || in.GetDriver() != javaDriver {
		return handler(ctx, req)
	}
	in = proto.Clone(in).(*v1.GetConnectionParamsRequest) // before the call: the codec may reuse what it decoded into
	resp, err := handler(ctx, req)
	if out, ok := resp.(*v1.GetConnectionParamsResponse); ok && err == nil {
		r.mu.Lock()
		r.calls = append(r.calls, paramsCall{req: in, resp: proto.Clone(out.GetParams()).(*v1.ConnectionParams), size: proto.Size(out)})
		r.mu.Unlock()
	}
	return resp, err
}

// checkCompact checks the Java client's GetConnectionParams against the
// broker's answers (docs/API.md, "Repeat calls are compact"): a request
// naming no view gets the whole params; one naming a view names the
// endpoint's (unchanged) view and gets the credential alone, at least
// minOmitted times. The logins the scenario made with those params show
// that the client restored the rest (host, TLS with the CA, hints).
func (r *rig) checkCompact(t *testing.T, minOmitted int) {
	t.Helper()
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	r.mu.Unlock()
	var view []byte
	omitted, whole, omittedSize := 0, 0, 0
	for i, c := range calls {
		p := c.resp
		if len(p.GetViewSha256()) != 32 {
			t.Errorf("call %d: response names no view (view_sha256 %x)", i, p.GetViewSha256())
			continue
		}
		if view == nil {
			view = p.GetViewSha256()
		} else if !bytes.Equal(view, p.GetViewSha256()) {
			t.Errorf("call %d: the view changed (%x, was %x) with an unchanged config", i, p.GetViewSha256(), view)
		}
		known := c.req.GetKnownViewSha256()
		switch {
		case len(known) == 0:
			if p.GetViewOmitted() || p.GetHost() == "" || p.GetHints() == nil || p.GetTls() == nil {
				t.Errorf("call %d: a request naming no view got %v", i, p)
			}
			if !c.req.GetOmitParamOptions() {
				t.Errorf("call %d: the request does not ask for omit_param_options", i)
			}
			whole = c.size
		case !bytes.Equal(known, view):
			t.Errorf("call %d: the request names view %x, the broker sent %x", i, known, view)
		case !p.GetViewOmitted() || p.GetHost() != "" || p.GetHints() != nil || p.GetTls() != nil || p.GetResolution() != nil || p.GetCredential().GetSecret() == "":
			t.Errorf("call %d: a request naming the view got more (or less) than the credential: %v", i, p)
		default:
			omitted++
			omittedSize = c.size
		}
	}
	if omitted < minOmitted {
		t.Errorf("%d of %d GetConnectionParams named the view held and got the credential alone, want >= %d", omitted, len(calls), minOmitted)
	}
	t.Logf("Java client: %d GetConnectionParams, %d view-omitted; response %d bytes whole (last), %d view-omitted", len(calls), omitted, whole, omittedSize)
}

// tokenSigned returns when an IAM token was signed (X-Amz-Date).
func tokenSigned(token string) (time.Time, error) {
	i := strings.Index(token, "X-Amz-Date=")
	if i < 0 || len(token) < i+11+16 {
		return time.Time{}, fmt.Errorf("token has no X-Amz-Date")
	}
	return time.Parse("20060102T150405Z", token[i+11:i+11+16])
}

// classpath returns target/classes, target/test-classes and the
// dependencies Maven wrote to target/classpath.txt.
func classpath(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatal("java is not on PATH (Debian: openjdk-17-jdk-headless)")
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	deps, err := os.ReadFile(filepath.Join(dir, "target", "classpath.txt"))
	if err != nil {
		t.Fatalf("clients/java is not built (%v): run `make java-build`", err)
	}
	for _, d := range []string{"classes/io/github/connbroker/ConnbrokerDataSource.class", "test-classes/io/github/connbroker/it/Scenario.class"} {
		if _, err := os.Stat(filepath.Join(dir, "target", d)); err != nil {
			t.Fatalf("clients/java is not built (%v): run `make java-build`", err)
		}
	}
	return strings.Join([]string{filepath.Join(dir, "target", "classes"), filepath.Join(dir, "target", "test-classes"), strings.TrimSpace(string(deps))}, string(os.PathListSeparator))
}

// scenario is a running Scenario.java; out collects its key=value lines.
type scenario struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *testlog.Buffer
	out    map[string][]string
}

func (r *rig) start(t *testing.T, args ...string) *scenario {
	t.Helper()
	return r.startJVM(t, nil, args...)
}

// startJVM runs Scenario.java with the JVM options jvm (-Dkey=value...).
func (r *rig) startJVM(t *testing.T, jvm []string, args ...string) *scenario {
	t.Helper()
	argv := append(append(slices.Clone(jvm), "-cp", r.classpath, "io.github.connbroker.it.Scenario"), args...)
	cmd := exec.Command("java", argv...)
	s := &scenario{cmd: cmd, lines: make(chan string, 100), stderr: &testlog.Buffer{}, out: map[string][]string{}}
	cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

// until reads lines until key appears (or the program ends) and returns its value.
func (s *scenario) until(t *testing.T, key string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				err := s.cmd.Wait()
				t.Fatalf("Scenario ended (%v) before %q; output %v\nstderr:\n%s", err, key, s.out, s.stderr)
			}
			k, v, _ := strings.Cut(l, "=")
			s.out[k] = append(s.out[k], v)
			if k == key {
				return v
			}
		case <-deadline:
			t.Fatalf("no %q from Scenario within %v; output %v\nstderr:\n%s", key, within, s.out, s.stderr)
		}
	}
}

// wait waits for the program's exit and fails on a non-zero status.
func (s *scenario) wait(t *testing.T) {
	t.Helper()
	for l := range s.lines {
		k, v, _ := strings.Cut(l, "=")
		s.out[k] = append(s.out[k], v)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("Scenario: %v; output %v\nstderr:\n%s", err, s.out, s.stderr)
	}
}

func (s *scenario) int(t *testing.T, key string) int {
	t.Helper()
	v := s.out[key]
	if len(v) == 0 {
		t.Fatalf("no %q in the output %v", key, s.out)
	}
	n, err := strconv.Atoi(v[len(v)-1])
	if err != nil {
		t.Fatalf("%s=%q: %v", key, v[len(v)-1], err)
	}
	return n
}

// TestHikariAcrossRefreshWindows: a HikariCP pool configured with HikariCP's
// own properties (dataSourceClassName + dataSource.*) opens two new
// physical connections in each of three token windows; every one logs in,
// which the peer allows only with a token younger than the window, and the
// peer sees new tokens in every window.
func TestHikariAcrossRefreshWindows(t *testing.T) {
	r := newRig(t, window)
	const windows = 3
	// The token of the first window, kept to show that the peer enforces it.
	first, err := r.broker.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "iam"})
	if err != nil {
		t.Fatal(err)
	}
	s := r.start(t, "windows", r.broker.Addr, "iam", strconv.Itoa(windows), strconv.FormatInt(window.Milliseconds(), 10))
	s.until(t, "ok", 2*time.Minute)
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Errorf("pool errors: %v", errs)
	}
	if ok := s.int(t, "ok"); ok != 2*windows {
		t.Errorf("ok = %d, want %d (2 per window)", ok, 2*windows)
	}
	if p := s.int(t, "physical"); p < 2*windows {
		t.Errorf("the DataSource opened %d physical connections, want >= %d", p, 2*windows)
	}
	// Every window after the first: both connections from compact repeat calls.
	r.checkCompact(t, 2*(windows-1))
	for _, u := range s.out["user"] {
		if u != "iam@%" {
			t.Errorf("CURRENT_USER() = %q, want iam@%%", u)
		}
	}
	// Control: the first window's token is now refused by the peer, for its age.
	r.mu.Lock()
	tooOld := r.tooOld
	r.mu.Unlock()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.caPEM)
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName, cfg.Passwd = "tcp", r.peer.Addr, "iam", "app", first.GetParams().GetCredential().GetSecret()
	cfg.AllowCleartextPasswords, cfg.TLS = true, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Errorf("reusing the first window's token: err = %v, want 1045", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tooOld != tooOld+1 {
		t.Errorf("the peer did not refuse the first window's token for its age: the window is not enforced")
	}
	// A starved JVM on a loaded machine can take seconds between fetching
	// params and the peer's check; such a refusal (1045) must then have
	// been bridged by the DataSource's report and retry with fresh params.
	if retries := s.int(t, "retries"); r.accepted < 2*windows || tooOld > retries {
		t.Errorf("the peer accepted %d logins and refused %d with old tokens (%d bridged by a retry), want >= %d and every refusal bridged",
			r.accepted, tooOld, retries, 2*windows)
	}
	// Tokens first used in each window: at least one new token per window.
	var firsts []time.Time
	for _, at := range r.tokens {
		firsts = append(firsts, at)
	}
	spanned := map[int]bool{}
	start := earliest(firsts)
	for _, at := range firsts {
		spanned[int(at.Sub(start)/window)] = true
	}
	if len(spanned) < windows {
		t.Errorf("new tokens in %d windows (%d distinct tokens), want %d: physical connections did not get fresh credentials", len(spanned), len(r.tokens), windows)
	}
}

func earliest(ts []time.Time) time.Time {
	var min time.Time
	for i, t := range ts {
		if i == 0 || t.Before(min) {
			min = t
		}
	}
	return min
}

// TestBeanRecipeReportsLoginFailure: the docs/JAVA.md @Bean recipe; the peer
// refuses the first login with 1045, the DataSource reports it
// (ReportLoginFailure, audited by the broker) and logs in on its retry.
func TestBeanRecipeReportsLoginFailure(t *testing.T) {
	r := newRig(t, tokenLifetime)
	r.mu.Lock()
	r.refuse = 1
	r.mu.Unlock()
	s := r.start(t, "bean", r.broker.Addr, "iam")
	t0 := time.Now()
	s.wait(t)
	t.Logf("bean took %v; stderr:\n%s", time.Since(t0), s.stderr)
	if got := s.out["user"]; len(got) != 1 || got[0] != "iam@%" {
		t.Errorf("users %v, want [iam@%%]", got)
	}
	if n := s.int(t, "retries"); n != 1 {
		t.Errorf("loginRetries = %d, want 1", n)
	}
	r.mu.Lock()
	refused := r.refused
	r.mu.Unlock()
	if refused != 1 {
		t.Errorf("the peer refused %d logins, want 1", refused)
	}
	audit := r.audit.String()
	if !strings.Contains(audit, `"login_failure_reported"`) || !strings.Contains(audit, `mysql_errno 1045 from driver \"connector-j\"`) {
		t.Errorf("the broker's audit has no ReportLoginFailure from connector-j:\n%s", audit)
	}
}

// TestKeptParamsWhileBrokerIsDown: with the broker stopped, the pool opens
// three more physical connections from the kept params (counted as stale
// serves, one outage); a client whose safety margin exceeds the token's
// lifetime refuses them with BrokerUnavailableException naming the broker.
func TestKeptParamsWhileBrokerIsDown(t *testing.T) {
	r := newRig(t, tokenLifetime)
	s := r.start(t, "outage", r.broker.Addr, "iam")
	s.until(t, "ready", time.Minute)
	r.stop()
	if _, err := io.WriteString(s.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Errorf("errors with the broker down: %v", errs)
	}
	// HikariCP may open one more connection in the background (pool fill),
	// also from the kept params.
	if ok, stale, outages := s.int(t, "ok"), s.int(t, "stale"), s.int(t, "outages"); ok != 3 || stale < 3 || outages != 1 {
		t.Errorf("ok=%d stale=%d outages=%d, want 3, >= 3, 1", ok, stale, outages)
	}
	if p, stale := s.int(t, "physical"), s.int(t, "stale"); p < 4 || p-stale < 1 {
		t.Errorf("physical connections = %d with %d stale serves, want >= 4 and at least one fresh", p, stale)
	}
	if n := strings.Count(s.stderr.String(), "serving kept params"); n != 1 {
		t.Errorf("%d warnings about kept params, want 1 per outage (per client); stderr:\n%s", n, s.stderr)
	}
	msg := strings.Join(s.out["strict_unavailable"], "")
	if !strings.Contains(msg, r.broker.Addr) || !strings.Contains(msg, "expired") {
		t.Errorf("strict client's error %q does not name the broker %s and the expiry", msg, r.broker.Addr)
	}
	if ms := s.int(t, "strict_expired_ms"); ms <= 0 {
		t.Errorf("strict_expired_ms = %d, want > 0", ms)
	}
}

// TestHikariMariaDBPAMIAM: the same pool against a real MariaDB whose
// account is IDENTIFIED VIA pam with REQUIRE SSL, the PAM checker verifying
// each IAM token (SigV4, 15-minute validity): two new physical connections
// in each of three windows of 1.5 s (refresh_after 1s), every one accepted
// by the checker.
func TestHikariMariaDBPAMIAM(t *testing.T) {
	testtier.Integration(t, "mariadbd, root for the PAM account, java and the clients/java build")
	cp := classpath(t)
	iam := &mariadbtest.IAMOptions{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region}
	m := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: iam})
	if !m.IAMEnabled {
		t.Fatalf("the PAM IAM account is needed (run as root): %s", m.IAMDisabledReason)
	}
	br := testbroker.Start(t, fmt.Sprintf("iam: {refresh_after: 1s}\nendpoints:\n  mdb-iam:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n    auth: iam\n    region: %s\n    tls: {mode: verify-identity, ca: %s}\n",
		m.Port, mariadbtest.IAMUser, mariadbtest.Database, testbroker.Region, m.CAFile))
	r := &rig{classpath: cp}
	const windows = 3
	s := r.start(t, "windows", br.Addr, "mdb-iam", strconv.Itoa(windows), "1500")
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Errorf("pool errors: %v", errs)
	}
	if ok := s.int(t, "ok"); ok != 2*windows {
		t.Errorf("ok = %d, want %d", ok, 2*windows)
	}
	for _, u := range s.out["user"] {
		if u != mariadbtest.IAMUser+"@%" {
			t.Errorf("CURRENT_USER() = %q, want %s@%%", u, mariadbtest.IAMUser)
		}
	}
	attempts, err := m.PAMAttempts()
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, a := range attempts {
		if a.Verdict == "accept" && a.User == mariadbtest.IAMUser {
			accepted++
		} else {
			t.Errorf("PAM checker: %+v", a)
		}
	}
	if accepted < 2*windows {
		t.Errorf("the PAM checker accepted %d IAM logins, want >= %d (one per physical connection)", accepted, 2*windows)
	}
}

// TestReplicasOneStopped: three brokers given as a comma-separated list
// (round_robin over a static resolver); one is stopped midway and no
// login fails, and at most the first call after the stop is served from
// kept params.
func TestReplicasOneStopped(t *testing.T) {
	r := newRig(t, tokenLifetime)
	addrs := []string{r.broker.Addr}
	for range 2 {
		b, stop, err := testbroker.New(r.cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		addrs = append(addrs, b.Addr)
	}
	s := r.start(t, "replicas", strings.Join(addrs, ","), "iam")
	s.until(t, "ready", time.Minute)
	r.stop() // the first of the list (also the channel's authority)
	if _, err := io.WriteString(s.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Errorf("logins failed with one of three brokers stopped: %v", errs)
	}
	// No login may fail. The first call after the stop can still pick the
	// stopped broker's subchannel before round_robin has seen it go; the
	// client then serves that one call from its kept (valid) params, which
	// is the designed outage behaviour, not a failure (seen once in CI on
	// a loaded machine). More than one would mean the other two were not used.
	if ok, stale := s.int(t, "ok"), s.int(t, "stale"); ok != 30 || stale > 1 {
		t.Errorf("ok=%d stale=%d, want 30 and at most 1", ok, stale)
	}
}

// TestBrokerKilledAndRestarted: connbrokerd (the real binary, from `make
// build`) is SIGKILLed; the DataSource logs in from kept params; the broker
// is restarted on the same address and fresh params come back within
// seconds (the reconnect backoff is reset during an outage).
func TestBrokerKilledAndRestarted(t *testing.T) {
	r := newRig(t, tokenLifetime)
	d := newDaemon(t, r.cfg)
	broker := d.start()
	s := r.start(t, "restart", d.addr, "iam")
	s.until(t, "ready", time.Minute)
	if err := broker.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = broker.Wait()
	io.WriteString(s.stdin, "killed\n")
	if down := s.until(t, "down", time.Minute); down != "3" {
		t.Errorf("stale serves while the broker was down = %s, want 3", down)
	}
	d.start()
	io.WriteString(s.stdin, "restarted\n")
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
	if ms := s.int(t, "recovered_ms"); ms > 10000 {
		t.Errorf("fresh params %d ms after the restart, want < 10 s", ms)
	} else {
		t.Logf("fresh params %d ms after the broker listened again", ms)
	}
	if n := s.int(t, "outages"); n != 1 {
		t.Errorf("outages = %d, want 1", n)
	}
}

// daemon is connbrokerd, the real binary (from `make build`), with a
// configuration file, on a fixed loopback address (so it can be restarted
// on it), with --dev and the test's AWS credentials.
type daemon struct {
	t                  *testing.T
	bin, cfgFile, addr string
	env                []string
	logs               *testlog.Buffer
}

func newDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	bin := os.Getenv("CONNBROKER_BIN_DIR")
	if bin == "" {
		bin = filepath.Join("..", "..", "bin")
	}
	path, err := filepath.Abs(filepath.Join(bin, "connbrokerd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v: run `make build` or set CONNBROKER_BIN_DIR", err)
	}
	d := &daemon{t: t, bin: path, cfgFile: filepath.Join(t.TempDir(), "connbroker.yaml"), logs: &testlog.Buffer{}}
	if err := os.WriteFile(d.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = lis.Addr().String()
	lis.Close()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "AWS_ACCESS_KEY_ID="+testbroker.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+testbroker.SecretAccessKey, "AWS_REGION="+testbroker.Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	return d
}

// start runs connbrokerd and waits until it listens.
func (d *daemon) start() *exec.Cmd {
	t := d.t
	cmd := exec.Command(d.bin, "--config", d.cfgFile, "--listen", d.addr, "--dev")
	cmd.Env, cmd.Stdout, cmd.Stderr = d.env, d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", d.addr); err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("connbrokerd did not listen on %s within 30s:\n%s", d.addr, d.logs)
		}
	}
}

// TestInventoryOneRecordAcrossPooledConnections: connbrokerd (the real
// binary) with its inventory in SQLite (`inventory: {path: ...}`); a
// HikariCP pool in a JVM started with javax.net.ssl.trustStore and a trust
// store password opens four physical connections (two at once). The
// broker's ListInventory shows one connector-j record: Connector/J and
// HikariCP at the versions of the jars on the class path, the JVM, the
// trust store as ca_bundle. After a graceful stop (the last write) the
// store counts it once, and the password is in no response, file or log.
func TestInventoryOneRecordAcrossPooledConnections(t *testing.T) {
	r := newRig(t, tokenLifetime)
	dir := t.TempDir()
	db := filepath.Join(dir, "inventory.db")
	d := newDaemon(t, r.cfg+fmt.Sprintf("inventory: {path: %s}\n", db))
	daemon := d.start()
	trustStore := filepath.Join(dir, "truststore.jks")
	if err := os.WriteFile(trustStore, javaCACerts(t), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "truststore-pw-not-for-the-inventory"
	s := r.startJVM(t, []string{"-Djavax.net.ssl.trustStore=" + trustStore, "-Djavax.net.ssl.trustStorePassword=" + pw},
		"windows", d.addr, "iam", "2", "200")
	s.wait(t)
	if errs := s.out["error"]; len(errs) != 0 {
		t.Fatalf("pool errors: %v", errs)
	}
	if ok, p := s.int(t, "ok"), s.int(t, "physical"); ok != 4 || p < 4 {
		t.Fatalf("ok=%d physical=%d, want 4 and >= 4", ok, p)
	}

	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := v1.NewBrokerServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp *v1.ListInventoryResponse
	for { // a new record is written at once, by the store's own goroutine
		resp, err = client.ListInventory(ctx, &v1.ListInventoryRequest{Endpoint: "iam"})
		if err != nil {
			t.Fatalf("ListInventory: %v\n%s", err, d.logs)
		}
		if len(resp.GetRecords()) > 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(resp.GetRecords()); n != 1 {
		t.Fatalf("ListInventory: %d records, want 1 (one JVM, one environment): %v", n, resp.GetRecords())
	}
	env := resp.GetRecords()[0].GetEnvironment()
	t.Logf("inventory record: %v", env)
	if env.GetDriver() != "connector-j" {
		t.Errorf("driver %q, want connector-j", env.GetDriver())
	}
	if env.GetCaBundle() != trustStore {
		t.Errorf("ca_bundle %q, want the javax.net.ssl.trustStore %s", env.GetCaBundle(), trustStore)
	}
	if !regexp.MustCompile(`^\S.* \d+(\.\d+)*$`).MatchString(env.GetRuntime()) || strings.Contains(env.GetRuntime(), "Runtime Environment") {
		t.Errorf("runtime %q, want the JVM and its version, e.g. OpenJDK 17.0.13", env.GetRuntime())
	}
	got := map[string]string{}
	for _, p := range env.GetPackages() {
		got[p.GetName()] = p.GetVersion()
	}
	want := map[string]string{"com.mysql:mysql-connector-j": jarVersion(t, r.classpath, "mysql-connector-j"), "com.zaxxer:HikariCP": jarVersion(t, r.classpath, "HikariCP")}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("package %s version %q, want %q (the jar on the class path); packages %v", name, got[name], v, got)
		}
	}
	if raw, _ := proto.Marshal(resp); strings.Contains(string(raw), pw) {
		t.Errorf("ListInventory holds the trust store password")
	}

	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Fatalf("connbrokerd after SIGTERM: %v\n%s", err, d.logs)
	}
	store, err := inventory.OpenSQLite(context.Background(), db, inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.List(context.Background(), "iam")
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Count != 1 {
		t.Errorf("stored records %+v, want one counted once (physical connections: %d)", recs, s.int(t, "physical"))
	}
	files, _ := filepath.Glob(db + "*")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), pw) {
			t.Errorf("%s holds the trust store password", f)
		}
	}
	if strings.Contains(d.logs.String(), pw) {
		t.Errorf("connbrokerd's log holds the trust store password")
	}
}

// javaCACerts returns the JVM's own trust store (java.home/lib/security/cacerts).
func javaCACerts(t *testing.T) []byte {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatal(err)
	}
	if java, err = filepath.EvalSymlinks(java); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(java)), "lib", "security", "cacerts"))
	if err != nil {
		t.Fatalf("the JVM's cacerts: %v", err)
	}
	return b
}

// jarVersion returns the version in the file name of artifact's jar on the class path.
func jarVersion(t *testing.T, classpath, artifact string) string {
	t.Helper()
	re := regexp.MustCompile(`(?:^|/)` + regexp.QuoteMeta(artifact) + `-(\d[^/]*)\.jar$`)
	for _, e := range filepath.SplitList(classpath) {
		if m := re.FindStringSubmatch(e); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s jar on the class path %s", artifact, classpath)
	return ""
}
