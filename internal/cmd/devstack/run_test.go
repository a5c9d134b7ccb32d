package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testlog"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	"github.com/connbroker/connbroker/internal/testtier"
)

// The test binary doubles as a stand-in broker (connbrokerd is built by
// another package): with fakeBrokerEnv set it listens on the config's
// address, records its AWS environment and waits for SIGTERM.
const (
	fakeBrokerEnv    = "DEVSTACK_TEST_FAKE_BROKER"
	fakeBrokerEnvOut = "DEVSTACK_TEST_FAKE_BROKER_ENV_OUT"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeBrokerEnv) == "1" {
		os.Exit(fakeBroker(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeBroker(args []string) int {
	if len(args) != 3 || args[0] != "--dev" || args[1] != "--config" {
		fmt.Fprintln(os.Stderr, "fake broker: want --dev --config FILE, got", args)
		return 2
	}
	b, err := os.ReadFile(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	var cfg struct {
		Listen string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	var aws []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			aws = append(aws, kv)
		}
	}
	if err := os.WriteFile(os.Getenv(fakeBrokerEnvOut), []byte(strings.Join(aws, "\n")), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake broker:", err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	l.Close()
	return 0
}

func waitReady(t *testing.T, path string, done <-chan error, stderr *testlog.Buffer) Ready {
	t.Helper()
	deadline := time.After(3 * time.Minute)
	for {
		if b, err := os.ReadFile(path); err == nil {
			var r Ready
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("ready file is not JSON: %v", err)
			}
			return r
		}
		select {
		case err := <-done:
			t.Fatalf("devstack exited before ready: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("devstack not ready after 3 minutes:\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestDevstack(t *testing.T) {
	testtier.Integration(t, "mariadbd")
	dir := t.TempDir()
	readyFile := filepath.Join(dir, "ready.json")
	envOut := filepath.Join(dir, "broker-env.txt")
	stdinR, stdinW := io.Pipe()
	var stdout, stderr testlog.Buffer
	environ := append(os.Environ(), fakeBrokerEnv+"=1", fakeBrokerEnvOut+"="+envOut, "AWS_PROFILE=production", "AWS_SESSION_TOKEN=leak")
	args := []string{"-dir", filepath.Join(dir, "state"), "-broker-bin", os.Args[0], "-listen", "127.0.0.1:0",
		"-ready-file", readyFile, "-exit-on-stdin-eof", "-cli-bin", "/opt/bin/connbroker"}

	done := make(chan error, 1)
	go func() { done <- run(context.Background(), args, environ, stdinR, &stdout, &stderr) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stdinW.Close()
			select { // done is empty when waitReady already took devstack's early exit
			case <-done:
			case <-time.After(time.Minute):
			}
		}
	})
	r := waitReady(t, readyFile, done, &stderr)

	if !r.IAMEnabled {
		t.Fatalf("IAM not enabled (tests run as root): %s", r.IAMDisabledReason)
	}
	wantEndpoints := []string{EndpointEd25519, EndpointIAM, EndpointNative, EndpointPlain, EndpointRDSProxy, EndpointTLS}
	if diff := cmp.Diff(wantEndpoints, r.Endpoints); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if r.BrokerAddr == "" || strings.HasSuffix(r.BrokerAddr, ":0") || r.BrokerPID == 0 {
		t.Errorf("ready file lacks the broker: %+v", r)
	}
	if fi, err := os.Stat(readyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ready file mode: %v %v", fi.Mode(), err)
	}

	// The broker got the local keys and nothing of the caller's AWS setup.
	gotEnv, err := os.ReadFile(envOut)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{
		"AWS_ACCESS_KEY_ID=" + LocalAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + LocalSecretAccessKey,
		"AWS_REGION=" + LocalRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	if diff := cmp.Diff(wantEnv, strings.Split(string(gotEnv), "\n")); diff != "" {
		t.Errorf("broker AWS environment (-want +got):\n%s", diff)
	}

	// The config is valid for the real config package, and every endpoint
	// in it logs in to the real MariaDB exactly as configured.
	cfg, err := config.Load(r.ConfigPath)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", r.ConfigPath, err)
	}
	if cfg.Listen != r.BrokerAddr {
		t.Errorf("config listen = %q, ready broker_addr = %q", cfg.Listen, r.BrokerAddr)
	}
	for _, name := range r.Endpoints {
		t.Run("login/"+name, func(t *testing.T) {
			ep := cfg.Endpoints[name]
			if ep == nil {
				t.Fatalf("endpoint %s not in the config", name)
			}
			loginAs(t, r, name, ep)
		})
	}
	secrets, _ := filepath.Glob(filepath.Join(r.SecretsDir, "*"))
	if len(secrets) != 3 {
		t.Errorf("secrets = %v, want 3 files", secrets)
	}
	for _, f := range secrets {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v (%v), want 0600", f, fi.Mode(), err)
		}
	}

	stdinW.Close()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("run() = %v after stdin EOF, want nil\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("devstack did not stop within a minute of stdin EOF")
	}
	for _, pid := range []int{r.BrokerPID} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d still exists after devstack stopped", pid)
		}
	}
	if conn, err := net.DialTimeout("tcp", r.MariaDBAddr, time.Second); err == nil {
		conn.Close()
		t.Errorf("MariaDB still accepts connections on %s after devstack stopped", r.MariaDBAddr)
	}

	out := stdout.String()
	for _, want := range []string{"next commands to try", "/opt/bin/connbroker endpoints",
		"/opt/bin/connbroker params local-native --driver pymysql -o json", "/opt/bin/connbroker validate --all", "python"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{LocalSecretAccessKey, mariadbtest.NativePassword, mariadbtest.TLSPassword, mariadbtest.Ed25519Password, "leak"} {
		if strings.Contains(out+stderr.String(), secret) {
			t.Errorf("output contains a secret (%d bytes)", len(secret))
		}
	}
}

// loginAs logs in the way the config says: user, password file or IAM
// token, TLS mode and CA.
func loginAs(t *testing.T, r Ready, name string, ep *config.Endpoint) {
	t.Helper()
	mc := mysql.NewConfig()
	mc.User, mc.Net, mc.Addr, mc.DBName = ep.User, "tcp", ep.Addr(), ep.Database
	mc.Timeout = 5 * time.Second
	switch ep.Auth {
	case "iam":
		tok, err := auth.BuildAuthToken(context.Background(), ep.Addr(), ep.Region, ep.User,
			credentials.NewStaticCredentialsProvider(r.AWSAccessKeyID, r.AWSSecretAccessKey, ""))
		if err != nil {
			t.Fatal(err)
		}
		mc.Passwd, mc.AllowCleartextPasswords = tok, true
	default:
		b, err := os.ReadFile(ep.Password.File)
		if err != nil {
			t.Fatal(err)
		}
		mc.Passwd = strings.TrimSpace(string(b))
	}
	wantCA, query := r.CAFile, "SELECT COUNT(*) FROM items"
	if name == EndpointRDSProxy {
		wantCA, query = r.RDSProxyCAFile, "SELECT 1" // the MySQL 8 protocol peer has no tables
	}
	if ep.TLS.Mode != "disabled" {
		if ep.TLS.Mode != "verify-identity" || ep.TLS.CA != wantCA {
			t.Errorf("%s tls = %+v, want verify-identity with %s", name, ep.TLS, wantCA)
		}
		tc := (&mariadbtest.Server{Host: ep.Host, CAPEM: mustRead(t, ep.TLS.CA)}).TLSConfig()
		mc.TLS = tc
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("login to %s as %s: %v", name, ep.User, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDevstackBrokerFails(t *testing.T) {
	testtier.Integration(t, "mariadbd")
	dir := t.TempDir()
	var stdout, stderr testlog.Buffer
	args := []string{"-dir", dir, "-broker-bin", "/bin/false", "-listen", "127.0.0.1:0", "-ready-file", filepath.Join(dir, "ready.json")}
	err := run(context.Background(), args, os.Environ(), strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "broker exited before accepting connections") {
		t.Fatalf("run() = %v, want a broker start failure", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ready.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file written although the broker failed")
	}
	pid, _ := os.ReadFile(filepath.Join(dir, "mariadb", "mariadbd.pid"))
	if p := strings.TrimSpace(string(pid)); p != "" {
		var n int
		fmt.Sscan(p, &n)
		if syscall.Kill(n, 0) == nil {
			t.Errorf("MariaDB pid %d still runs after the failed start", n)
		}
	}
	if got := cli.Exit("devstack", err, io.Discard); got != 1 {
		t.Errorf("exit code = %d, want 1", got)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" = ok
	}{
		{name: "ok", args: []string{"-dir", "d", "-broker-bin", "b"}},
		{name: "no broker", args: []string{"-dir", "d", "-no-broker"}},
		{name: "missing dir", args: []string{"-broker-bin", "b"}, want: "-dir is required"},
		{name: "missing broker", args: []string{"-dir", "d"}, want: "-broker-bin is required"},
		{name: "public listen", args: []string{"-dir", "d", "-no-broker", "-listen", "0.0.0.0:7700"}, want: "loopback"},
		{name: "bad listen", args: []string{"-dir", "d", "-no-broker", "-listen", "7700"}, want: "-listen"},
		{name: "extra args", args: []string{"-dir", "d", "-no-broker", "x"}, want: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-bogus"}, want: "bogus"},
		{name: "unknown long flag", args: []string{"--bogus"}, want: "bogus"},
		{name: "bad port value", args: []string{"-dir", "d", "-no-broker", "-mariadb-port", "x"}, want: "mariadb-port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("parseFlags() = %v", err)
				}
				return
			}
			var ue *cli.Error
			if !errors.As(err, &ue) || ue.Code != cli.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseFlags() = %v, want usage error containing %q", err, tc.want)
			}
			if got := cli.Exit("devstack", err, io.Discard); got != 2 {
				t.Errorf("exit code = %d, want 2", got)
			}
		})
	}
}

// -h, -help and --help print the usage and exit 0, as with the stdlib flag
// package before.
func TestParseFlagsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var stderr strings.Builder
		_, err := parseFlags([]string{arg}, &stderr)
		if got := cli.Exit("devstack", err, io.Discard); got != 0 || !strings.Contains(stderr.String(), "-broker-bin") {
			t.Errorf("%s: exit %d (%v), usage %q", arg, got, err, stderr.String())
		}
	}
}
