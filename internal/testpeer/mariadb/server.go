// Package mariadbtest starts a private, real MariaDB server for tests and
// local development: its own datadir, socket, pid-file and port on
// 127.0.0.1, TLS with a CA generated on the fly, and a set of accounts that
// cover the auth paths the broker cares about:
//
//   - NativeUser: mysql_native_password, no TLS required
//   - TLSUser: mysql_native_password with REQUIRE SSL
//   - Ed25519User: MariaDB's ed25519 plugin (client plugin client_ed25519)
//   - IAMUser: the RDS IAM path for real, when running as root: the account
//     is IDENTIFIED VIA pam with REQUIRE SSL, the server asks the client for
//     mysql_clear_password, and PAM runs cmd/connbroker-pam-check, which
//     verifies the SigV4 token with internal/iamverify.
//
// What MariaDB 10.11's pam plugin (v2, auth_pam_tool) was seen to do here,
// with the server running as root (`user=root`; the setuid auth_pam_tool
// then runs PAM as root, so pam_exec and the checker run as root too):
//
//   - The greeting announces mysql_native_password; for a pam account the
//     server then sends an AuthSwitchRequest to mysql_clear_password
//     (pam-use-cleartext-plugin=ON), as RDS does for IAM accounts.
//     go-sql-driver needs allowCleartextPasswords=true.
//   - REQUIRE SSL is checked only after the auth plugin has run: a client
//     that sends clear text over plain TCP has already given its token away
//     (PAM even accepts it) before the login fails with 1045. REQUIRE SSL does
//     not protect the secret; the client has to refuse clear text without TLS.
//   - The secret reaches pam_exec cut to 511 bytes (PAM's response limit), so
//     only tokens signed with static keys (about 300 bytes) fit; tokens with
//     an STS session token (about 1 KB) always fail here, while RDS takes them.
//   - A rejected pam login reads "Access denied for user ... (using password:
//     NO)", even though a password was sent.
//   - pam_exec sets PAM_USER and PAM_SERVICE; PAM_RHOST is empty.
//
// It never touches port 3306 or a server it did not start, and stops the
// server by the PID in its own pid-file. Tests use StartForTest, which
// fails (never skips) when the server cannot start; only under -short (the
// fast tier, internal/testtier) it skips. Requires mariadbd and
// mariadb-install-db on PATH (scripts/install-deps.sh installs them).
//
// Files: server.go is the server lifecycle (datadir, config, mariadbd,
// accounts, Stop); pam.go the PAM setup behind IAMUser (policy, service
// file, checker build, checker log); certs.go the TLS material.
package mariadbtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/internal/testtier"
)

// Accounts created in every server. The passwords are fixed test values:
// these servers listen on 127.0.0.1 only and live in a scratch directory.
const (
	// Database is the database every account may use; it holds the tables
	// "items" (id, name) and "notes" (id, body), with a few rows.
	Database = "appdb"

	// NativeUser logs in with mysql_native_password, TLS optional.
	NativeUser = "app_native"
	// NativePassword is NativeUser's password.
	NativePassword = "native-pass-1"

	// TLSUser logs in with mysql_native_password and REQUIRE SSL: a plain
	// TCP login fails with 1045.
	TLSUser = "app_tls"
	// TLSPassword is TLSUser's password.
	TLSPassword = "tls-pass-1"

	// Ed25519User logs in with MariaDB's ed25519 plugin.
	Ed25519User = "app_ed25519"
	// Ed25519Password is Ed25519User's password.
	Ed25519Password = "ed25519-pass-1"

	// IAMUser is IDENTIFIED VIA pam with REQUIRE SSL (created only when
	// Server.IAMEnabled): the password is an RDS IAM token, sent in clear
	// text over TLS.
	IAMUser = "app_iam"

	// PAMServicePrefix starts the name of the /etc/pam.d file of each server.
	PAMServicePrefix = "connbroker-"
)

// Options configure Start.
type Options struct {
	// Dir is required: the datadir, socket, certificates, config and logs
	// live here. Start removes and recreates Dir/data if an earlier run of
	// this package left it there.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// IAM, when set, creates IAMUser and a PAM service that verifies IAM
	// tokens signed with these keys. It needs root; without root the server
	// starts without IAMUser and Server.IAMDisabledReason says why.
	IAM *IAMOptions
	// PAMCheckBin is the path of a built cmd/connbroker-pam-check; empty
	// means build it with `go build` into Dir (needs the go tool and a
	// working directory inside this module).
	PAMCheckBin string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Server is a running private MariaDB. Its fields are read-only.
type Server struct {
	// Host is always "127.0.0.1"; Port the TCP port; Addr is "Host:Port".
	Host string
	Port int
	Addr string
	// Socket is the unix socket path (root logs in here, see RootDB).
	Socket string
	// Dir is Options.Dir, made absolute.
	Dir string
	// DefaultsFile is the server's option file (usable with
	// `mariadb --defaults-file=...` as root over the socket).
	DefaultsFile string
	// ErrorLog is the server's error log.
	ErrorLog string
	// Version is @@version, e.g. "10.11.6-MariaDB-0+deb12u1".
	Version string

	// CAPEM is the CA certificate that signed the server certificate;
	// CAFile holds the same PEM. CertFile and KeyFile are the server's.
	CAPEM                     []byte
	CAFile, CertFile, KeyFile string

	// IAMEnabled says whether IAMUser exists and tokens are checked.
	IAMEnabled bool
	// IAMDisabledReason says why IAM was asked for but is not enabled.
	IAMDisabledReason string
	// PAMService is the PAM service name (file /etc/pam.d/PAMService).
	PAMService string
	// PAMLog is the checker's log: one JSON line per login attempt.
	PAMLog string
	// PolicyFile is the checker's policy (an iamverify.PolicyFile, mode 0600).
	PolicyFile string

	log          *slog.Logger
	mariadbd     string // binary paths
	installDBBin string
	cmd          *exec.Cmd
	exited       chan struct{}
	pidFile      string
	pamFile      string
	sockDir      string // a short directory made for the socket, removed by Stop
	stopOnce     sync.Once
	stopErr      error
	policyMu     sync.Mutex
}

// StartForTest starts a server for t and stops it in t.Cleanup. It calls
// t.Fatalf with the reason (and the server's log tail) when the server
// cannot start: a missing database is never a skipped test, except under
// -short (the fast tier, see internal/testtier), which skips t before
// looking for mariadbd. An empty opts.Dir becomes t.TempDir().
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	testtier.Integration(t, "mariadbd")
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start private MariaDB in %s: %v\n(mariadbd and mariadb-install-db must be installed: run scripts/install-deps.sh)", opts.Dir, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop private MariaDB: %v", err)
		}
	})
	return s
}

// Start creates a fresh data directory in opts.Dir, starts mariadbd on
// 127.0.0.1 and creates the accounts. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("options: Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("options: Dir: %w", err)
	}
	mariadbd, err := findBin("mariadbd")
	if err != nil {
		return nil, err
	}
	installDB, err := findBin("mariadb-install-db")
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		Host:         "127.0.0.1",
		Dir:          dir,
		DefaultsFile: filepath.Join(dir, "my.cnf"),
		ErrorLog:     filepath.Join(dir, "mariadbd.err"),
		pidFile:      filepath.Join(dir, "mariadbd.pid"),
		log:          log,
		mariadbd:     mariadbd,
		installDBBin: installDB,
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.cleanupFiles()
		}
	}()

	cf, err := writeCerts(dir, time.Now())
	if err != nil {
		return nil, fmt.Errorf("write certificates: %w", err)
	}
	s.CAPEM, s.CAFile, s.CertFile, s.KeyFile = cf.caPEM, cf.caFile, cf.certFile, cf.keyFile

	s.Socket = filepath.Join(dir, "mariadbd.sock")
	if len(s.Socket) > 100 { // sun_path is 108 bytes
		if s.sockDir, err = os.MkdirTemp("", "mdbsock"); err != nil {
			return nil, fmt.Errorf("make socket directory: %w", err)
		}
		s.Socket = filepath.Join(s.sockDir, "s")
	}

	if opts.IAM != nil {
		if reason := iamUnavailable(); reason != "" {
			s.IAMDisabledReason = reason
			log.Warn("mariadbtest: IAM account disabled", "reason", reason)
		} else {
			s.IAMEnabled = true
		}
	}

	// Port 0: pick a free port; another process may take it between our
	// probe and the server's bind, so retry a few times.
	attempts := 1
	if opts.Port == 0 {
		attempts = 4
	}
	for i := range attempts {
		s.Port = opts.Port
		if s.Port == 0 {
			if s.Port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		if s.IAMEnabled {
			if err := s.setUpPAM(ctx, opts); err != nil {
				return nil, err
			}
		}
		if err := s.writeConfig(); err != nil {
			return nil, err
		}
		if i == 0 {
			if err := s.installDB(ctx); err != nil {
				return nil, err
			}
		}
		err = s.startServer(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || i == attempts-1 {
			return nil, err
		}
		log.Info("mariadbtest: port taken, retrying", "port", s.Port)
	}

	if err := s.bootstrap(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	ok = true
	log.Info("mariadbtest: server ready", "addr", s.Addr, "socket", s.Socket, "pid", s.cmd.Process.Pid,
		"version", s.Version, "iam", s.IAMEnabled)
	return s, nil
}

const dirMarker = ".connbroker-mariadbtest"

// prepareDir makes Dir and a fresh Dir/data, refusing to wipe a datadir
// this package did not create or to start over a server still running.
func (s *Server) prepareDir() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("make %s: %w", s.Dir, err)
	}
	if pid, err := readPID(s.pidFile); err == nil && processAlive(pid) {
		return fmt.Errorf("a server started from %s is still running (pid %d): stop it first", s.Dir, pid)
	}
	data := filepath.Join(s.Dir, "data")
	if _, err := os.Stat(data); err == nil {
		if _, err := os.Stat(filepath.Join(s.Dir, dirMarker)); err != nil {
			return fmt.Errorf("%s exists and was not created by mariadbtest: refusing to replace it", data)
		}
		if err := os.RemoveAll(data); err != nil {
			return fmt.Errorf("remove old datadir: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, dirMarker), []byte("created by internal/testpeer/mariadb\n"), 0o644); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	for _, f := range []string{s.pidFile, s.ErrorLog} {
		os.Remove(f)
	}
	return nil
}

// writeConfig writes the option file: the [client] group lets mariadb and
// mariadb-admin reach the server as root over the socket.
// tmpDir is the server's private temporary directory.
func (s *Server) tmpDir() string { return filepath.Join(s.Dir, "tmp") }

func (s *Server) writeConfig() error {
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return fmt.Errorf("make tmpdir: %w", err)
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# written by internal/testpeer/mariadb; private test server")
	w("[client]")
	w("socket=%s", s.Socket)
	w("user=root")
	w("")
	w("[mariadbd]")
	if os.Geteuid() == 0 {
		w("user=root")
	}
	w("datadir=%s", filepath.Join(s.Dir, "data"))
	w("socket=%s", s.Socket)
	w("pid-file=%s", s.pidFile)
	// A private tmpdir: servers sharing /tmp delete each other's temporary
	// tables ("#sql-temptable-*") and crash during mariadb-install-db.
	w("tmpdir=%s", s.tmpDir())
	w("log-error=%s", s.ErrorLog)
	w("port=%d", s.Port)
	w("bind-address=127.0.0.1")
	w("skip-name-resolve")
	w("skip-log-bin")
	w("performance-schema=OFF")
	w("innodb-buffer-pool-size=16M")
	w("innodb-log-file-size=8M")
	w("innodb-flush-log-at-trx-commit=2")
	w("innodb-doublewrite=0")
	w("max-connections=200")
	w("character-set-server=utf8mb4")
	w("collation-server=utf8mb4_general_ci")
	w("ssl-ca=%s", s.CAFile)
	w("ssl-cert=%s", s.CertFile)
	w("ssl-key=%s", s.KeyFile)
	w("plugin-load-add=auth_ed25519.so")
	if s.IAMEnabled {
		w("plugin-load-add=auth_pam.so")
		w("pam-use-cleartext-plugin=ON")
	}
	if err := os.WriteFile(s.DefaultsFile, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write option file: %w", err)
	}
	return nil
}

func (s *Server) installDB(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args := []string{
		"--defaults-file=" + s.DefaultsFile,
		"--skip-test-db",
		"--auth-root-authentication-method=socket",
	}
	if os.Geteuid() != 0 {
		// root@localhost authenticates by the OS user connecting to the socket.
		if u, err := user.Current(); err == nil {
			args = append(args, "--auth-root-socket-user="+u.Username)
		}
	}
	out, err := exec.CommandContext(ctx, s.installDBBin, args...).CombinedOutput()
	if err != nil {
		// The generic advice mariadb-install-db prints last hides the cause:
		// show the server's own [ERROR] lines first.
		return fmt.Errorf("mariadb-install-db: %w\n%s\n%s\nserver log:\n%s", err, errorLines(out, 10), tail(out, 4), s.errorLogTail(15))
	}
	return nil
}

// errorLines returns up to n lines of out that report an error.
func errorLines(out []byte, n int) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "rror:") || strings.Contains(l, "failed") {
			keep = append(keep, l)
			if len(keep) == n {
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

var errAddrInUse = errors.New("address already in use")

func (s *Server) startServer(ctx context.Context) error {
	cmd := exec.Command(s.mariadbd, "--defaults-file="+s.DefaultsFile)
	// The server dies with us if the test binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	db, err := s.RootDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	var lastErr error
	for {
		select {
		case <-s.exited:
			logTail := s.errorLogTail(25)
			if strings.Contains(logTail, "Address already in use") {
				return fmt.Errorf("start mariadbd on port %d: %w", s.Port, errAddrInUse)
			}
			return fmt.Errorf("mariadbd exited during startup (%v); error log %s:\n%s", cmd.ProcessState, s.ErrorLog, logTail)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("mariadbd not ready: %w (last ping: %v); error log %s:\n%s", ctx.Err(), lastErr, s.ErrorLog, s.errorLogTail(25))
		case <-time.After(50 * time.Millisecond):
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = db.PingContext(pctx)
		pcancel()
		if lastErr == nil {
			return nil
		}
	}
}

// bootstrap creates the database, tables and accounts.
func (s *Server) bootstrap(ctx context.Context) error {
	db, err := s.RootDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&s.Version); err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	stmts := []string{
		"CREATE DATABASE " + Database,
		"CREATE TABLE " + Database + ".items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)",
		"INSERT INTO " + Database + ".items VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma')",
		"CREATE TABLE " + Database + ".notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT NOT NULL)",
		"INSERT INTO " + Database + ".notes (body) VALUES ('hello from mariadbtest')",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s')", NativeUser, NativePassword),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s') REQUIRE SSL", TLSUser, TLSPassword),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA ed25519 USING PASSWORD('%s')", Ed25519User, Ed25519Password),
	}
	users := []string{NativeUser, TLSUser, Ed25519User}
	if s.IAMEnabled {
		var status string
		err := db.QueryRowContext(ctx, "SELECT PLUGIN_STATUS FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'pam'").Scan(&status)
		if err != nil || status != "ACTIVE" {
			return fmt.Errorf("pam plugin not active (status %q, %v): is auth_pam.so in the plugin dir? error log:\n%s", status, err, s.errorLogTail(15))
		}
		stmts = append(stmts, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA pam USING '%s' REQUIRE SSL", IAMUser, s.PAMService))
		users = append(users, IAMUser)
	}
	for _, u := range users {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%%'", Database, u))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			// The statements hold only the fixed test passwords above.
			return fmt.Errorf("bootstrap %q: %w", firstWords(q, 4), err)
		}
	}
	return nil
}

// Stop stops the server by the PID in its pid-file (SIGTERM, then SIGKILL
// after 30 s), waits for it to exit, and removes the PAM service file.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		s.cleanupFiles()
		s.log.Info("mariadbtest: server stopped", "addr", s.Addr, "err", s.stopErr)
	})
	return s.stopErr
}

func (s *Server) stop() error {
	if s.cmd == nil {
		return nil
	}
	pid, err := readPID(s.pidFile)
	if err != nil || pid != s.cmd.Process.Pid {
		// No pid-file (server died early) or a stranger's: only ever signal our child.
		pid = s.cmd.Process.Pid
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal mariadbd (pid %d): %w", pid, err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	s.kill()
	return fmt.Errorf("mariadbd (pid %d) did not stop within 30s of SIGTERM; killed", pid)
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Server) cleanupFiles() {
	if s.pamFile != "" {
		if err := os.Remove(s.pamFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("mariadbtest: remove PAM service file", "file", s.pamFile, "err", err)
		}
	}
	if s.sockDir != "" {
		os.RemoveAll(s.sockDir)
	}
}

// PID returns the server's process id.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// PAMServiceFile returns the path of the PAM service file, or "" without IAM.
func (s *Server) PAMServiceFile() string { return s.pamFile }

// RootDB opens a pool logged in as root over the unix socket (socket
// authentication: the caller must be the OS user that started the server).
// The caller closes it.
func (s *Server) RootDB(ctx context.Context) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = s.Socket
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("root connector: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	return db, nil
}

// DefaultClientSocket is where Debian's MariaDB clients (Connector/C,
// libmariadb in mysqlclient, the mariadb CLI, and /etc/mysql/my.cnf) look
// for the server when told host "localhost". A Server never listens there:
// its Socket is private to its Dir.
const DefaultClientSocket = "/run/mysqld/mysqld.sock"

// LocalhostAddr is "localhost:PORT": this server's TCP port under the host
// name localhost (which resolves to 127.0.0.1, where the server listens;
// its certificate names localhost too). Clients that treat localhost as
// "the Unix socket" (libmysqlclient, MariaDB Connector/C, the mysql and
// mariadb CLIs, mysqlclient, mysql-connector-python's C extension) ignore
// the port and go to their default socket (DefaultClientSocket), which is
// never this server: they fail visibly (2002 "Can't connect to local server
// through socket ...") instead of reaching the right server by luck.
// Drivers that always use TCP (go-sql-driver, PyMySQL) reach this server.
func (s *Server) LocalhostAddr() string {
	return net.JoinHostPort("localhost", strconv.Itoa(s.Port))
}

// TLSConfig returns a client TLS config that trusts only this server's CA
// and verifies the name 127.0.0.1 (verify-identity).
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

// Config returns a go-sql-driver config for user over TCP to Database,
// with TLS verified against CAPEM when tlsOn is true.
func (s *Server) Config(user, password string, tlsOn bool) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, password
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", s.Addr, Database
	cfg.Timeout = 5 * time.Second
	if tlsOn {
		cfg.TLS = s.TLSConfig()
	}
	return cfg
}

func (s *Server) errorLogTail(n int) string {
	b, err := os.ReadFile(s.ErrorLog)
	if err != nil {
		return fmt.Sprintf("(no error log: %v)", err)
	}
	return tail(b, n)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

// findBin looks name up on PATH, then in the sbin directories a normal
// user's PATH lacks on Debian (mariadbd is in /usr/sbin).
func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s: not on PATH nor in /usr/sbin (install the Debian package mariadb-server, e.g. with scripts/install-deps.sh)", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
