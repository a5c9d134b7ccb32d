package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/internal/iamverify"
	"github.com/connbroker/connbroker/internal/testtier"
)

var testIAM = IAMOptions{
	AccessKeyID:     "AKIDMARIADBTEST00001",
	SecretAccessKey: "mariadbtest-fake-secret-key-0123456789",
	Region:          "us-east-1",
	Host:            "127.0.0.1",
}

// shared is one server for the tests of this package that only log in.
var shared *Server

func TestMain(m *testing.M) {
	if testtier.SkipPackage("mariadbtest", "mariadbd") {
		return
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mariadbtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	iam := testIAM
	shared, err = Start(ctx, Options{Dir: filepath.Join(dir, "shared"), IAM: &iam})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start shared MariaDB (run scripts/install-deps.sh?): %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "mariadbtest: shared server %s (%s) ready in %s, iam=%v\n",
		shared.Addr, shared.Version, time.Since(start).Round(time.Millisecond), shared.IAMEnabled)
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop shared MariaDB:", err)
		code = 1
	}
	return code
}

func open(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// login connects, checks CURRENT_USER() and reads a row from appdb.
func login(ctx context.Context, t *testing.T, cfg *mysql.Config) error {
	t.Helper()
	db := open(t, cfg)
	var who, name string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&who); err != nil {
		return err
	}
	if want := cfg.User + "@%"; who != want {
		t.Errorf("CURRENT_USER() = %q, want %q", who, want)
	}
	if err := db.QueryRowContext(ctx, "SELECT name FROM items WHERE id = 1").Scan(&name); err != nil {
		return err
	}
	if name != "alpha" {
		t.Errorf("items[1] = %q, want alpha", name)
	}
	return nil
}

func mysqlErrNo(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func TestAccounts(t *testing.T) {
	s := shared
	tests := []struct {
		name    string
		cfg     func() *mysql.Config
		wantErr uint16
		cipher  bool // expect a TLS session
	}{
		{name: "native without TLS", cfg: func() *mysql.Config { return s.Config(NativeUser, NativePassword, false) }},
		{name: "native with TLS", cfg: func() *mysql.Config { return s.Config(NativeUser, NativePassword, true) }, cipher: true},
		{name: "native wrong password", cfg: func() *mysql.Config { return s.Config(NativeUser, "nope", false) }, wantErr: 1045},
		{name: "tls account without TLS", cfg: func() *mysql.Config { return s.Config(TLSUser, TLSPassword, false) }, wantErr: 1045},
		{name: "tls account with verified TLS", cfg: func() *mysql.Config { return s.Config(TLSUser, TLSPassword, true) }, cipher: true},
		{name: "tls account via localhost name", cfg: func() *mysql.Config {
			c := s.Config(TLSUser, TLSPassword, true)
			c.TLS.ServerName = "localhost"
			return c
		}, cipher: true},
		{name: "ed25519", cfg: func() *mysql.Config { return s.Config(Ed25519User, Ed25519Password, false) }},
		{name: "ed25519 wrong password", cfg: func() *mysql.Config { return s.Config(Ed25519User, "nope", true) }, wantErr: 1045},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cfg := tc.cfg()
			err := login(ctx, t, cfg)
			if got := mysqlErrNo(err); got != tc.wantErr || (tc.wantErr == 0 && err != nil) {
				t.Fatalf("login as %s: err = %v, want MySQL error %d", cfg.User, err, tc.wantErr)
			}
			if err != nil || !tc.cipher {
				return
			}
			var name, cipher string
			if err := open(t, cfg).QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
				t.Fatal(err)
			}
			if cipher == "" {
				t.Errorf("Ssl_cipher is empty: connection is not encrypted")
			}
		})
	}
}

func TestTLSRejectsOtherCA(t *testing.T) {
	other, err := writeCerts(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := shared.Config(TLSUser, TLSPassword, true)
	cfg.TLS = (&Server{Host: shared.Host, CAPEM: other.caPEM}).TLSConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = login(ctx, t, cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("login with a foreign CA: err = %v, want a certificate verification error", err)
	}
}

func iamToken(t *testing.T, s *Server, endpoint, region, user string, keys IAMOptions) string {
	t.Helper()
	if endpoint == "" {
		endpoint = s.Addr
	}
	tok, err := auth.BuildAuthToken(context.Background(), endpoint, region, user,
		credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func iamConfig(s *Server, token string, tlsOn bool) *mysql.Config {
	cfg := s.Config(IAMUser, token, tlsOn)
	cfg.AllowCleartextPasswords = true
	return cfg
}

func TestIAM(t *testing.T) {
	s := shared
	if !s.IAMEnabled {
		t.Fatalf("IAM not enabled on the shared server: %s", s.IAMDisabledReason)
	}
	otherKey := testIAM
	otherKey.AccessKeyID = "AKIDSOMEONEELSE00001"
	otherSecret := testIAM
	otherSecret.SecretAccessKey = "another-secret"

	tests := []struct {
		name       string
		token      func(t *testing.T) string
		tls        bool
		policy     func(*iamverify.PolicyFile)
		wantErr    uint16
		wantReason string // "" = checker not reached
	}{
		{name: "real token over TLS", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, testIAM) }, tls: true, wantReason: "ok"},
		{name: "botocore-shaped token", token: func(t *testing.T) string {
			return strings.Replace(iamToken(t, s, "", "us-east-1", IAMUser, testIAM), "?", "/?", 1)
		}, tls: true, wantReason: "ok"},
		{name: "tampered signature", token: func(t *testing.T) string {
			tok := iamToken(t, s, "", "us-east-1", IAMUser, testIAM)
			last := tok[len(tok)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			return tok[:len(tok)-1] + string(repl)
		}, tls: true, wantErr: 1045, wantReason: "bad_signature"},
		{name: "wrong secret", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, otherSecret) }, tls: true, wantErr: 1045, wantReason: "bad_signature"},
		{name: "unknown key", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, otherKey) }, tls: true, wantErr: 1045, wantReason: "unknown_key"},
		{name: "token for another region", token: func(t *testing.T) string { return iamToken(t, s, "", "eu-west-1", IAMUser, testIAM) }, tls: true, wantErr: 1045, wantReason: "wrong_region"},
		{name: "server moved to another region", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, testIAM) }, tls: true,
			policy: func(p *iamverify.PolicyFile) { p.Region = "us-west-2" }, wantErr: 1045, wantReason: "wrong_region"},
		{name: "token for localhost name", token: func(t *testing.T) string {
			return iamToken(t, s, fmt.Sprintf("localhost:%d", s.Port), "us-east-1", IAMUser, testIAM)
		}, tls: true, wantErr: 1045, wantReason: "wrong_host"},
		{name: "token for another port", token: func(t *testing.T) string {
			return iamToken(t, s, fmt.Sprintf("127.0.0.1:%d", s.Port+1), "us-east-1", IAMUser, testIAM)
		}, tls: true, wantErr: 1045, wantReason: "wrong_host"},
		{name: "token for another user", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", "app_other", testIAM) }, tls: true, wantErr: 1045, wantReason: "wrong_user"},
		{name: "expired (server clock +20m)", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, testIAM) }, tls: true,
			policy: func(p *iamverify.PolicyFile) { p.ClockOffset = "20m" }, wantErr: 1045, wantReason: "expired"},
		{name: "from the future (server clock -10m)", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, testIAM) }, tls: true,
			policy: func(p *iamverify.PolicyFile) { p.ClockOffset = "-10m" }, wantErr: 1045, wantReason: "not_yet_valid"},
		{name: "static password", token: func(*testing.T) string { return "hunter2" }, tls: true, wantErr: 1045, wantReason: "malformed"},
		// MariaDB checks REQUIRE SSL only after the auth plugin ran: the
		// client has already sent the token in clear text over plain TCP,
		// and PAM accepted it. REQUIRE SSL does not protect the secret;
		// only a client that refuses clear text without TLS does.
		{name: "real token without TLS (REQUIRE SSL)", token: func(t *testing.T) string { return iamToken(t, s, "", "us-east-1", IAMUser, testIAM) }, wantErr: 1045, wantReason: "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policy != nil {
				if err := s.SetIAMPolicy(tc.policy); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					err := s.SetIAMPolicy(func(p *iamverify.PolicyFile) { p.Region, p.ClockOffset = testIAM.Region, "" })
					if err != nil {
						t.Error(err)
					}
				})
			}
			before, err := s.PAMAttempts()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			token := tc.token(t)
			err = login(ctx, t, iamConfig(s, token, tc.tls))
			if got := mysqlErrNo(err); got != tc.wantErr || (tc.wantErr == 0 && err != nil) {
				t.Fatalf("IAM login: err = %v, want MySQL error %d", err, tc.wantErr)
			}
			after, err := s.PAMAttempts()
			if err != nil {
				t.Fatal(err)
			}
			got := after[len(before):]
			if tc.wantReason == "" {
				if len(got) != 0 {
					t.Errorf("checker ran %d times, want 0: %+v", len(got), got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("checker did not log the attempt")
			}
			verdict := "reject"
			if tc.wantReason == "ok" { // accepted by PAM (the login may still fail)
				verdict = "accept"
			}
			last := got[len(got)-1]
			type line struct{ User, Verdict, Reason string }
			if diff := cmp.Diff(line{IAMUser, verdict, tc.wantReason}, line{last.User, last.Verdict, last.Reason}); diff != "" {
				t.Errorf("PAM log (-want +got):\n%s\ndetail: %s", diff, last.Detail)
			}
			if raw, _ := os.ReadFile(s.PAMLog); len(token) > 40 && strings.Contains(string(raw), token[len(token)-40:]) {
				t.Errorf("PAM log contains the token")
			}
		})
	}
}

// TestIAMTokenLength finds where a long secret gets cut on its way through
// the server, auth_pam_tool and pam_exec (tokens with an STS session token
// are about 1 KB).
func TestIAMTokenLength(t *testing.T) {
	s := shared
	if !s.IAMEnabled {
		t.Fatalf("IAM not enabled: %s", s.IAMDisabledReason)
	}
	sess := credentials.NewStaticCredentialsProvider(testIAM.AccessKeyID, testIAM.SecretAccessKey, strings.Repeat("S", 700))
	tok, err := auth.BuildAuthToken(context.Background(), s.Addr, testIAM.Region, IAMUser, sess)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = login(ctx, t, iamConfig(s, tok, true))
	attempts, _ := s.PAMAttempts()
	last := attempts[len(attempts)-1]
	t.Logf("token of %d bytes: err=%v; checker saw reason=%s detail=%s", len(tok), err, last.Reason, last.Detail)
	if err == nil {
		t.Logf("long tokens pass through PAM intact")
	} else if mysqlErrNo(err) != 1045 || last.Reason != "malformed" && last.Reason != "bad_signature" {
		t.Errorf("unexpected failure mode for a long token: %v / %s", err, last.Reason)
	}
}

func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	iam := testIAM
	bin := filepath.Join(shared.Dir, "bin", "connbroker-pam-check") // reuse the shared build
	s := StartForTest(t, Options{Dir: dir, IAM: &iam, PAMCheckBin: bin})
	if !s.IAMEnabled {
		t.Fatalf("IAM not enabled: %s", s.IAMDisabledReason)
	}
	if s.Port == shared.Port || s.PAMService == shared.PAMService {
		t.Fatalf("second server shares port or PAM service with the first")
	}
	if _, err := os.Stat(s.PAMServiceFile()); err != nil {
		t.Fatalf("PAM service file: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := login(ctx, t, iamConfig(s, iamToken(t, s, "", testIAM.Region, IAMUser, testIAM), true)); err != nil {
		t.Fatalf("IAM login on the second server: %v", err)
	}
	pid := s.PID()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("mariadbd pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if _, err := os.Stat(s.PAMServiceFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PAM service file %s not removed: %v", s.PAMServiceFile(), err)
	}
	if err := login(ctx, t, s.Config(NativeUser, NativePassword, false)); err == nil {
		t.Errorf("login after Stop succeeded")
	}

	// The same directory can be started again (fresh datadir).
	s2 := StartForTest(t, Options{Dir: dir})
	if s2.IAMEnabled || s2.PAMServiceFile() != "" {
		t.Errorf("server without IAM options has IAM: %v %q", s2.IAMEnabled, s2.PAMServiceFile())
	}
	if err := login(ctx, t, s2.Config(NativeUser, NativePassword, false)); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
	if err := s.SetIAMPolicy(func(*iamverify.PolicyFile) {}); err != nil {
		// s is stopped but had IAM: the policy file is still there.
		t.Logf("SetIAMPolicy after stop: %v", err)
	}
	if err := s2.SetIAMPolicy(func(*iamverify.PolicyFile) {}); err == nil {
		t.Errorf("SetIAMPolicy without IAM: want an error")
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) Options
		want string
	}{
		{name: "no dir", opts: func(*testing.T) Options { return Options{} }, want: "Dir is required"},
		{name: "foreign datadir", opts: func(t *testing.T) Options {
			d := t.TempDir()
			os.MkdirAll(filepath.Join(d, "data"), 0o700)
			return Options{Dir: d}
		}, want: "not created by mariadbtest"},
		{name: "port taken", opts: func(t *testing.T) Options { return Options{Dir: t.TempDir(), Port: shared.Port} }, want: "address already in use"},
		{name: "bad IAM options", opts: func(t *testing.T) Options {
			return Options{Dir: t.TempDir(), IAM: &IAMOptions{Region: "us-east-1"}, PAMCheckBin: filepath.Join(shared.Dir, "bin", "connbroker-pam-check")}
		}, want: "access_key_id: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := Start(ctx, tc.opts(t))
			if err == nil {
				s.Stop()
				t.Fatalf("Start succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testIAM.SecretAccessKey) {
				t.Errorf("error leaks the secret key")
			}
		})
	}
}

// TestLocalhost reaches the server by the name localhost on its TCP port:
// go-sql-driver (always TCP) gets in. The real mariadb CLI takes localhost
// to mean the Unix socket when the port comes from an option file, and then
// fails visibly, because the default socket is never this server; a -P on
// its command line (or --protocol=TCP) makes it use TCP (MariaDB 10.11).
func TestLocalhost(t *testing.T) {
	s := shared
	if s.Socket == DefaultClientSocket {
		t.Fatalf("the server's socket is the clients' default socket %s", DefaultClientSocket)
	}
	cfg := s.Config(TLSUser, TLSPassword, true)
	cfg.Addr, cfg.TLS.ServerName = s.LocalhostAddr(), "localhost"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := login(ctx, t, cfg); err != nil {
		t.Fatalf("go-sql-driver to %s: %v", s.LocalhostAddr(), err)
	}

	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Fatalf("the mariadb client is needed (apt-get install mariadb-client): %v", err)
	}
	optFile := filepath.Join(t.TempDir(), "client.cnf")
	if err := os.WriteFile(optFile, []byte(fmt.Sprintf("[client]\nhost=localhost\nport=%d\n", s.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		args = append(args, "-u", NativeUser, "--connect-timeout=5", "-N", "-e", "SELECT CURRENT_USER()")
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+NativePassword)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := cli("--defaults-file=" + optFile)
	if err == nil {
		t.Fatalf("mariadb with host=localhost port=%d in an option file reached a server through the socket: %q", s.Port, out)
	}
	if _, serr := os.Stat(DefaultClientSocket); errors.Is(serr, os.ErrNotExist) {
		if !strings.Contains(out, "ERROR 2002") || !strings.Contains(out, DefaultClientSocket) {
			t.Errorf("mariadb via localhost: %v: %q, want ERROR 2002 through socket %s", err, out, DefaultClientSocket)
		}
	}
	for _, args := range [][]string{
		{"--defaults-file=" + optFile, "--protocol=TCP"},
		{"--no-defaults", "-h", "localhost", "-P", strconv.Itoa(s.Port)},
	} {
		if out, err := cli(args...); err != nil || out != NativeUser+"@%" {
			t.Errorf("mariadb %v: %v: %q", args, err, out)
		}
	}
}
