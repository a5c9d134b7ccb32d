package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// startIAMStack starts a real MariaDB with the PAM IAM account (needs
// root) and a broker serving local-iam (auth iam, verify-identity) and
// local-native (a password, verify-identity).
// The no-secret endpoint reads the returned file, which the test may remove.
func startIAMStack(t *testing.T) (*testbroker.Broker, *mariadbtest.Server, string) {
	t.Helper()
	return startIAMStackWith(t, "")
}

// startIAMStackWith is startIAMStack with head (top-level settings, e.g.
// "iam: {refresh_after: 4s}\n") before the endpoints.
func startIAMStackWith(t *testing.T, head string) (*testbroker.Broker, *mariadbtest.Server, string) {
	t.Helper()
	db := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: &mariadbtest.IAMOptions{
		AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region}})
	if !db.IAMEnabled {
		t.Fatalf("the MariaDB PAM IAM account is needed (run as root): %s", db.IAMDisabledReason)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600)
	pw2 := pw + "2"
	os.WriteFile(pw2, []byte(mariadbtest.NativePassword), 0o600)
	return testbroker.Start(t, head+fmt.Sprintf(`endpoints:
  local-iam:
    host: 127.0.0.1
    port: %[1]d
    user: %[2]s
    database: appdb
    auth: iam
    region: %[3]s
    tls: {mode: verify-identity, ca: %[4]s}
  local-native:
    host: 127.0.0.1
    port: %[1]d
    user: app_native
    database: appdb
    auth: password
    password: {file: %[5]s}
    tls: {mode: verify-identity, ca: %[4]s}
  no-secret:
    host: 127.0.0.1
    port: %[1]d
    user: app_native
    auth: password
    password: {file: %[5]s2}
    tls: {mode: verify-identity, ca: %[4]s}
`, db.Port, mariadbtest.IAMUser, testbroker.Region, db.CAFile, pw)), db, pw2
}

// cliEnv is cli with an environment.
func cliEnv(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = exitCode(run(context.Background(), args, look, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func secretOf(t *testing.T, br *testbroker.Broker, endpoint string) string {
	t.Helper()
	resp, err := br.Client.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: endpoint})
	if err != nil {
		t.Fatalf("params %s: %v", endpoint, err)
	}
	return resp.GetParams().GetCredential().GetSecret()
}

// procScan watches every process while the client runs: it fails when any
// /proc/*/cmdline or /proc/*/environ holds secret, and records the client
// (a child of this process named mariadb) and its option file.
type procScan struct {
	mu         sync.Mutex
	leaks      []string
	sawClient  bool
	optionFile string
}

func (s *procScan) once(secret string) {
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if err == nil && bytes.Contains(b, []byte(secret)) {
				s.mu.Lock()
				s.leaks = append(s.leaks, "/proc/"+e.Name()+"/"+f)
				s.mu.Unlock()
			}
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if f := strings.Fields(string(stat)); len(f) > 3 && f[1] == "(mariadb)" && f[3] == me {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			s.mu.Lock()
			s.sawClient = true
			for _, a := range strings.Split(string(cmdline), "\x00") {
				if p, ok := strings.CutPrefix(a, "--defaults-extra-file="); ok {
					s.optionFile = p
				}
			}
			s.mu.Unlock()
		}
	}
}

// TestConnectRealClient: `connect` starts the real mariadb client against
// the PAM IAM account (clear text over verified TLS, as RDS) and a password
// account; the query runs as the right user; while it runs no process's
// argv or environment holds the secret; the option file is gone after.
func TestConnectRealClient(t *testing.T) {
	br, _, _ := startIAMStack(t)
	env := map[string]string{"PATH": os.Getenv("PATH")}
	for _, tt := range []struct{ endpoint, user string }{{"local-iam", mariadbtest.IAMUser}, {"local-native", mariadbtest.NativeUser}} {
		t.Run(tt.endpoint, func(t *testing.T) {
			secret := secretOf(t, br, tt.endpoint)
			var scan procScan
			stop := make(chan struct{})
			scanned := make(chan struct{})
			go func() {
				defer close(scanned)
				for {
					select {
					case <-stop:
						return
					default:
						scan.once(secret)
						time.Sleep(20 * time.Millisecond)
					}
				}
			}()
			code, out, errOut := cliEnv(env, "--broker="+br.Addr, "connect", tt.endpoint, "--", "-N", "-B", "-e", "SELECT CURRENT_USER(), (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher') <> '', SLEEP(1)")
			close(stop)
			<-scanned
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if want := tt.user + "@%\t1\t0"; strings.TrimSpace(out) != want {
				t.Errorf("client printed %q, want %q", out, want)
			}
			if secretOf(t, br, tt.endpoint) != secret {
				t.Fatalf("the broker's credential changed during the test: the scan proves nothing")
			}
			if len(scan.leaks) > 0 {
				t.Errorf("the secret is in %v", scan.leaks)
			}
			if !scan.sawClient || scan.optionFile == "" {
				t.Fatalf("never saw the mariadb client with --defaults-extra-file running (saw %v, file %q)", scan.sawClient, scan.optionFile)
			}
			if _, err := os.Stat(scan.optionFile); !os.IsNotExist(err) {
				t.Errorf("option file %s still there: %v", scan.optionFile, err)
			}
			if _, err := os.Stat(filepath.Dir(scan.optionFile)); !os.IsNotExist(err) {
				t.Errorf("private directory %s still there: %v", filepath.Dir(scan.optionFile), err)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("output holds the secret")
			}
		})
	}
}

// TestConnectErrors: the client's exit code comes back; no client on PATH
// names the package; an unknown endpoint is a usage error.
func TestConnectErrors(t *testing.T) {
	br, _ := startStack(t)
	b := "--broker=" + br.Addr
	path := map[string]string{"PATH": os.Getenv("PATH")}
	code, _, errOut := cliEnv(path, b, "connect", "local-native", "--", "-e", "SELECT no_such_column")
	if code != 1 || !strings.Contains(errOut, "no_such_column") {
		t.Errorf("failing query: exit %d, want the client's 1\n%s", code, errOut)
	}
	code, _, errOut = cliEnv(map[string]string{"PATH": t.TempDir()}, b, "connect", "local-native")
	if code != cmdline.NoClient || !strings.Contains(errOut, "mariadb-client") || !strings.Contains(errOut, "default-mysql-client") {
		t.Errorf("no client: exit %d\n%s", code, errOut)
	}
	code, _, errOut = cliEnv(path, b, "connect", "nope")
	if code != cmdline.Usage || !strings.Contains(errOut, `endpoint "nope" is not configured`) {
		t.Errorf("unknown endpoint: exit %d\n%s", code, errOut)
	}
	code, _, errOut = cliEnv(path, b, "connect", "a", "b")
	if code != cmdline.Usage {
		t.Errorf("two endpoints: exit %d\n%s", code, errOut)
	}
}

// TestConnectOptionValue: secrets with '#', spaces, quotes and backslashes
// reach the real client intact through the option file.
func TestConnectOptionValue(t *testing.T) {
	testtier.Integration(t, "the mariadb client")
	for _, s := range []string{`a#b c`, `q"uote\back`, `it's`, "X-Amz-Signature=ab%2F&x=1"} {
		dir := t.TempDir()
		body, err := passwordOptionFile(s)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "c.cnf")
		os.WriteFile(f, body, 0o600)
		out, err := execOutput("mariadb", "--defaults-extra-file="+f, "--print-defaults")
		if err != nil {
			t.Fatalf("mariadb --print-defaults: %v", err)
		}
		if !strings.Contains(out, "--password="+s+" ") && !strings.HasSuffix(strings.TrimSpace(out), "--password="+s) {
			t.Errorf("secret %q came out as %q", s, out)
		}
	}
	if _, err := optionValue("a\nb"); err == nil {
		t.Error("a newline was accepted")
	}
}
