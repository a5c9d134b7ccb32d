package goclient_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc/credentials/insecure"

	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/internal/testlog"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// ChaosDown is how long the chaos test keeps the broker down (the password
// params it keeps are usable for DefaultStaleWithoutExpiry, 15 minutes).
const ChaosDown = 20 * time.Second

// buildBroker returns a connbrokerd binary: $CONNBROKER_BIN_DIR/connbrokerd
// when set, else a fresh `go build`.
func buildBroker(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("CONNBROKER_BIN_DIR"); dir != "" {
		bin := filepath.Join(dir, "connbrokerd")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("CONNBROKER_BIN_DIR: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), "connbrokerd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/connbroker/connbroker/cmd/connbrokerd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build connbrokerd: %v\n%s", err, out)
	}
	return bin
}

// brokerProc is a connbrokerd process the test starts, SIGKILLs and restarts.
type brokerProc struct {
	t          *testing.T
	env        []string // extra environment
	bin, cfg   string
	listen     string
	cmd        *exec.Cmd
	exited     chan struct{}
	logs       *testlog.Buffer
	startCount int
}

// stack starts MariaDB and writes a broker config with endpoint "plain"
// (app_native, password file, TLS off).
func stack(t *testing.T) (bin, cfgPath string) {
	t.Helper()
	srv := mariadbtest.StartForTest(t, mariadbtest.Options{})
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(mariadbtest.NativePassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "connbroker.yaml")
	body := fmt.Sprintf(`listen: 127.0.0.1:7700
endpoints:
  plain:
    host: 127.0.0.1
    port: %d
    user: %s
    database: %s
    auth: password
    plugin: mysql_native_password
    password: {file: %s}
    tls: {mode: disabled}
`, srv.Port, mariadbtest.NativeUser, mariadbtest.Database, pw)
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return buildBroker(t), cfgPath
}

func newBrokerProc(t *testing.T, bin, cfg, listen string) *brokerProc {
	b := &brokerProc{t: t, bin: bin, cfg: cfg, listen: listen, logs: &testlog.Buffer{}}
	t.Cleanup(func() {
		if b.running() {
			b.kill()
		}
	})
	return b
}

func (b *brokerProc) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// start runs the broker and waits until it accepts TCP connections.
func (b *brokerProc) start() {
	b.t.Helper()
	b.cmd = exec.Command(b.bin, "--config", b.cfg, "--listen", b.listen, "--dev")
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	b.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED=true", "HOME=" + b.t.TempDir()}, b.env...)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.exited = make(chan struct{})
	go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(b.cmd, b.exited)
	b.startCount++
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.listen, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if !b.running() || time.Now().After(deadline) {
			b.t.Fatalf("connbrokerd on %s did not start: %v\n%s", b.listen, err, b.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (b *brokerProc) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func dial(t *testing.T, target string) *connbroker.Client {
	t.Helper()
	c, err := connbroker.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login opens a new physical connection (no idle pool) and checks CURRENT_USER().
func login(ctx context.Context, db *sql.DB) error { return loginAs(ctx, db, mariadbtest.NativeUser) }

// loginAs is login for another account.
func loginAs(ctx context.Context, db *sql.DB, account string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var user string
	if err := conn.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		return err
	}
	if !strings.HasPrefix(user, account+"@") {
		return fmt.Errorf("CURRENT_USER() = %q", user)
	}
	return nil
}

func openDB(t *testing.T, c *connbroker.Client, opts ...connbroker.Option) *sql.DB {
	db := sql.OpenDB(connbroker.Connector(c, "plain", opts...))
	db.SetMaxIdleConns(0) // every login is a new physical connection
	t.Cleanup(func() { db.Close() })
	return db
}

func TestKeptParamsWhileBrokerKilled(t *testing.T) {
	bin, cfg := stack(t)
	b := newBrokerProc(t, bin, cfg, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	b.start()
	logs := &testlog.Buffer{}
	kept := connbroker.NewKept(0, 0, slog.New(slog.NewTextHandler(logs, nil)))
	c := dial(t, b.listen)
	db := openDB(t, c, connbroker.WithKept(kept), connbroker.WithCallTimeout(2*time.Second))
	ctx := t.Context()
	if err := login(ctx, db); err != nil {
		t.Fatalf("first login: %v", err)
	}
	b.kill()
	for i := range 3 {
		if err := login(ctx, db); err != nil {
			t.Fatalf("login %d with the broker down: %v", i, err)
		}
	}
	st := kept.Stats()
	if st.StaleServes != 3 || st.StaleServesByEndpoint["plain/"+connbroker.Driver] != 3 || st.Outages != 1 {
		t.Errorf("stats = %+v, want 3 stale serves in 1 outage", st)
	}
	if n := strings.Count(logs.String(), "serving kept params"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), b.listen) {
		t.Errorf("warning does not name the broker %s:\n%s", b.listen, logs.String())
	}
	b.start()
	t0 := time.Now()
	for kept.Stats().OutageSince.IsZero() == false {
		if err := login(ctx, db); err != nil {
			t.Fatal(err)
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatal("no fresh params 10s after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first fresh params %v after the restart", time.Since(t0).Round(time.Millisecond))
}

func TestExpiredKeptParamsAreUnavailable(t *testing.T) {
	bin, cfg := stack(t)
	b := newBrokerProc(t, bin, cfg, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	b.start()
	kept := connbroker.NewKept(0, time.Second, slog.New(slog.DiscardHandler))
	c := dial(t, b.listen)
	db := openDB(t, c, connbroker.WithKept(kept), connbroker.WithCallTimeout(2*time.Second))
	if err := login(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	b.kill()
	time.Sleep(1500 * time.Millisecond)
	err := login(t.Context(), db)
	var ue *connbroker.UnavailableError
	if !errors.Is(err, connbroker.ErrBrokerUnavailable) || !errors.As(err, &ue) || !ue.Expired {
		t.Fatalf("err = %v, want an expired UnavailableError", err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		t.Fatalf("the driver logged in with expired params: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, b.listen) || !strings.Contains(msg, "expired") || ue.ExpiredAgo <= 0 || ue.ExpiredAgo > 10*time.Second {
		t.Errorf("message %q / ExpiredAgo %v: want the address and how long ago", msg, ue.ExpiredAgo)
	}
	// Without kept params at all: unavailable, not expired.
	_, err = connbroker.Connector(c, "plain", connbroker.WithoutStale()).Connect(t.Context())
	if err == nil || errors.As(err, &ue) && ue.Expired {
		t.Errorf("WithoutStale connect with the broker down: %v", err)
	}
}

// TestChaosPoolOpensConnectionsWhileBrokerDown: a database/sql pool opens
// a new physical connection every 50 ms while the broker is SIGKILLed, kept
// down ChaosDown and restarted on the same address: no login fails.
func TestChaosPoolOpensConnectionsWhileBrokerDown(t *testing.T) {
	bin, cfg := stack(t)
	b := newBrokerProc(t, bin, cfg, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	b.start()
	kept := connbroker.NewKept(0, 0, slog.New(slog.DiscardHandler))
	db := openDB(t, dial(t, b.listen), connbroker.WithKept(kept), connbroker.WithCallTimeout(2*time.Second))
	var logins, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := login(t.Context(), db); err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				logins.Add(1)
			}
		}
	})
	time.Sleep(time.Second)
	b.kill()
	time.Sleep(ChaosDown)
	down := kept.Stats().StaleServes
	b.start()
	t0 := time.Now()
	for !kept.Stats().OutageSince.IsZero() && time.Since(t0) < 10*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	recovered := time.Since(t0)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d logins failed; first: %v", failures.Load(), failures.Load()+logins.Load(), firstErr.Load())
	}
	if down < uint64(ChaosDown/time.Second) { // at least one per second of outage
		t.Errorf("only %d stale serves while the broker was down %v", down, ChaosDown)
	}
	if !kept.Stats().OutageSince.IsZero() {
		t.Errorf("no fresh params 10s after the restart")
	}
	t.Logf("%d logins, %d served from kept params, first fresh params %v after the restart", logins.Load(), down, recovered.Round(time.Millisecond))
}

// TestThreeReplicasKillOne: three brokers on 127.0.0.2..4 and a client
// given all three; SIGKILL one: no login fails and none needs kept params.
func TestThreeReplicasKillOne(t *testing.T) {
	bin, cfg := stack(t)
	port := freePort(t)
	var addrs []string
	var procs []*brokerProc
	for i := 2; i <= 4; i++ {
		p := newBrokerProc(t, bin, cfg, fmt.Sprintf("127.0.0.%d:%d", i, port))
		p.start()
		procs, addrs = append(procs, p), append(addrs, p.listen)
	}
	kept := connbroker.NewKept(0, 0, slog.New(slog.DiscardHandler))
	db := openDB(t, dial(t, strings.Join(addrs, ",")), connbroker.WithKept(kept), connbroker.WithCallTimeout(2*time.Second))
	var n int
	var slowest time.Duration // the failover shows as the slowest login after the kill
	deadline := time.Now().Add(4 * time.Second)
	for killed := false; time.Now().Before(deadline); n++ {
		if !killed && n == 20 {
			procs[0].kill()
			killed = true
		}
		t0 := time.Now()
		if err := login(t.Context(), db); err != nil {
			t.Fatalf("login %d: %v", n, err)
		}
		if d := time.Since(t0); killed && d > slowest {
			slowest = d
		}
		time.Sleep(20 * time.Millisecond) // well under limits.issue_rate (100/s per caller)
	}
	if s := kept.Stats(); s.StaleServes != 0 {
		t.Errorf("%d stale serves: a live replica should have answered", s.StaleServes)
	}
	t.Logf("%d logins across the kill; slowest after it %v", n, slowest.Round(time.Millisecond))
}
