package mysql8test_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

const iamToken = "test-token-not-a-secret"

type verifierCall struct {
	User, Secret string
	TLS          bool
}

type fixture struct {
	sha2, native *mysql8test.Server
	mu           sync.Mutex
	calls        []verifierCall
}

func (f *fixture) verify(user, secret string, isTLS bool) error {
	f.mu.Lock()
	f.calls = append(f.calls, verifierCall{user, secret, isTLS})
	f.mu.Unlock()
	if secret != iamToken {
		return errors.New("bad token")
	}
	return nil
}

func accounts() []mysql8test.Account {
	return []mysql8test.Account{
		{User: "sha2", Password: "sha2-pw", Plugin: mysql8test.PluginCachingSHA2},
		{User: "native", Password: "native-pw", Plugin: mysql8test.PluginNative},
		{User: "sha256", Password: "sha256-pw", Plugin: mysql8test.PluginSHA256},
		{User: "iam", Plugin: mysql8test.PluginClearPassword},
		{User: "tlsonly", Password: "tlsonly-pw", Plugin: mysql8test.PluginCachingSHA2, RequireTLS: true},
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{}
	opts := mysql8test.Options{TLS: cfg, CAPEM: caPEM, Accounts: accounts(), ClearPasswordVerifier: f.verify}
	opts.DefaultPlugin = mysql8test.PluginCachingSHA2
	f.sha2 = mysql8test.StartForTest(t, opts)
	opts.DefaultPlugin = mysql8test.PluginNative
	f.native = mysql8test.StartForTest(t, opts)
	return f
}

// open connects with the real go-sql-driver/mysql.
func open(t *testing.T, s *mysql8test.Server, user, pass string, tlsCfg *tls.Config, allowClear bool) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pass, "tcp", s.Addr, "app"
	cfg.TLS = tlsCfg
	cfg.AllowCleartextPasswords = allowClear
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { db.Close() })
	return db
}

func login(t *testing.T, s *mysql8test.Server, user, pass string, tlsCfg *tls.Config, allowClear bool) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cu string
	err := open(t, s, user, pass, tlsCfg, allowClear).QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&cu)
	return cu, err
}

func lastLogin(t *testing.T, s *mysql8test.Server) mysql8test.Login {
	t.Helper()
	ls := s.Logins()
	if len(ls) == 0 {
		t.Fatal("server saw no login")
	}
	return ls[len(ls)-1]
}

var ignoreReason = cmpopts.IgnoreFields(mysql8test.Login{}, "Reason")

func wantMySQLError(t *testing.T, err error, number uint16, state string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want MySQL error %d", err, number)
	}
	if me.Number != number || string(me.SQLState[:]) != state {
		t.Fatalf("err = %d (%s) %q, want %d (%s)", me.Number, me.SQLState[:], me.Message, number, state)
	}
}

func TestCachingSHA2Paths(t *testing.T) {
	f := newFixture(t)
	s := f.sha2
	tlsCfg := s.ClientTLS("127.0.0.1")
	steps := []struct {
		name       string
		invalidate bool
		tls        *tls.Config
		want       mysql8test.Login
	}{
		{"first login plain TCP is full auth with RSA key request", false, nil,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", FullAuth: true, PublicKeyRequested: true, OK: true}},
		{"second login is fast auth", false, nil,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", FastAuth: true, OK: true}},
		{"fast auth over TLS", false, tlsCfg,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", TLS: true, FastAuth: true, OK: true}},
		{"after InvalidateCache TLS takes full auth in clear text", true, tlsCfg,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", TLS: true, FullAuth: true, OK: true}},
		{"after InvalidateCache plain TCP takes full auth with RSA", true, nil,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", FullAuth: true, PublicKeyRequested: true, OK: true}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.invalidate {
				s.InvalidateCache()
			}
			cu, err := login(t, s, "sha2", "sha2-pw", st.tls, false)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if cu != "sha2@%" {
				t.Errorf("CURRENT_USER() = %q, want sha2@%%", cu)
			}
			if diff := cmp.Diff(st.want, lastLogin(t, s), ignoreReason, cmpopts.IgnoreUnexported(mysql8test.Login{})); diff != "" {
				t.Errorf("login (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPluginsAndAuthSwitch(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		srv        *mysql8test.Server
		user, pass string
		tls        bool
		want       mysql8test.Login
	}{
		{"native account, caching_sha2 greeting (switch to native)", f.sha2, "native", "native-pw", false,
			mysql8test.Login{User: "native", Plugin: "mysql_native_password", OK: true}},
		{"native account, native greeting", f.native, "native", "native-pw", false,
			mysql8test.Login{User: "native", Plugin: "mysql_native_password", OK: true}},
		{"caching_sha2 account, native greeting (switch to caching_sha2, RSA)", f.native, "sha2", "sha2-pw", false,
			mysql8test.Login{User: "sha2", Plugin: "caching_sha2_password", FullAuth: true, PublicKeyRequested: true, OK: true}},
		{"sha256 account over TLS", f.sha2, "sha256", "sha256-pw", true,
			mysql8test.Login{User: "sha256", Plugin: "sha256_password", TLS: true, OK: true}},
		{"sha256 account over plain TCP (RSA key request)", f.sha2, "sha256", "sha256-pw", false,
			mysql8test.Login{User: "sha256", Plugin: "sha256_password", PublicKeyRequested: true, OK: true}},
		{"sha256 account, native greeting", f.native, "sha256", "sha256-pw", false,
			mysql8test.Login{User: "sha256", Plugin: "sha256_password", PublicKeyRequested: true, OK: true}},
		{"REQUIRE SSL account over TLS", f.sha2, "tlsonly", "tlsonly-pw", true,
			mysql8test.Login{User: "tlsonly", Plugin: "caching_sha2_password", TLS: true, FullAuth: true, OK: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tlsCfg *tls.Config
			if tc.tls {
				tlsCfg = tc.srv.ClientTLS("localhost")
			}
			cu, err := login(t, tc.srv, tc.user, tc.pass, tlsCfg, false)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if cu != tc.user+"@%" {
				t.Errorf("CURRENT_USER() = %q", cu)
			}
			if diff := cmp.Diff(tc.want, lastLogin(t, tc.srv), ignoreReason, cmpopts.IgnoreUnexported(mysql8test.Login{})); diff != "" {
				t.Errorf("login (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		srv        *mysql8test.Server
		user, pass string
		tls        bool
	}{
		{"unknown user (caching_sha2 greeting) is 1045 not 1449", f.sha2, "nobody", "x", false},
		{"unknown user (native greeting) is 1045", f.native, "nobody", "x", false},
		{"wrong password caching_sha2", f.sha2, "sha2", "wrong", false},
		{"wrong password native", f.sha2, "native", "wrong", false},
		{"wrong password sha256 over TLS", f.sha2, "sha256", "wrong", true},
		{"REQUIRE SSL account over plain TCP", f.sha2, "tlsonly", "tlsonly-pw", false},
		{"clear password account without TLS", f.sha2, "iam", iamToken, false},
		{"clear password account, wrong token over TLS", f.sha2, "iam", "wrong-token", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tlsCfg *tls.Config
			if tc.tls {
				tlsCfg = tc.srv.ClientTLS("localhost")
			}
			_, err := login(t, tc.srv, tc.user, tc.pass, tlsCfg, true)
			wantMySQLError(t, err, 1045, "28000")
			if got := lastLogin(t, tc.srv); got.OK {
				t.Errorf("server recorded a successful login: %+v", got)
			}
		})
	}
}

func TestClearPassword(t *testing.T) {
	f := newFixture(t)
	for _, srv := range []*mysql8test.Server{f.sha2, f.native} {
		t.Run(srv.String(), func(t *testing.T) {
			f.mu.Lock()
			f.calls = nil
			f.mu.Unlock()
			cu, err := login(t, srv, "iam", iamToken, srv.ClientTLS("localhost"), true)
			if err != nil {
				t.Fatalf("login over TLS with allowCleartextPasswords: %v", err)
			}
			if cu != "iam@%" {
				t.Errorf("CURRENT_USER() = %q", cu)
			}
			// Without TLS the server refuses before the verifier runs.
			_, err = login(t, srv, "iam", iamToken, nil, true)
			wantMySQLError(t, err, 1045, "28000")
			// Without the opt-in the driver refuses to send clear text.
			_, err = login(t, srv, "iam", iamToken, srv.ClientTLS("localhost"), false)
			if !errors.Is(err, mysql.ErrCleartextPassword) {
				t.Errorf("without allowCleartextPasswords: err = %v, want ErrCleartextPassword", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			want := []verifierCall{{User: "iam", Secret: iamToken, TLS: true}}
			if diff := cmp.Diff(want, f.calls); diff != "" {
				t.Errorf("verifier calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClearPasswordWithoutTLSAllowed(t *testing.T) {
	var gotTLS []bool
	s := mysql8test.StartForTest(t, mysql8test.Options{
		DefaultPlugin:                mysql8test.PluginNative,
		Accounts:                     []mysql8test.Account{{User: "iam", Plugin: mysql8test.PluginClearPassword}},
		AllowClearPasswordWithoutTLS: true,
		ClearPasswordVerifier: func(_, secret string, isTLS bool) error {
			gotTLS = append(gotTLS, isTLS)
			if secret != iamToken {
				return errors.New("bad token")
			}
			return nil
		},
	})
	if _, err := login(t, s, "iam", iamToken, nil, true); err != nil {
		t.Fatalf("login: %v", err)
	}
	if diff := cmp.Diff([]bool{false}, gotTLS); diff != "" {
		t.Errorf("verifier isTLS (-want +got):\n%s", diff)
	}
}

func TestQueries(t *testing.T) {
	f := newFixture(t)
	s := f.sha2
	ctx := t.Context()
	for _, mode := range []struct {
		name string
		tls  *tls.Config
	}{{"tls", s.ClientTLS("localhost")}, {"plain", nil}} {
		t.Run(mode.name, func(t *testing.T) {
			db := open(t, s, "sha2", "sha2-pw", mode.tls, false)
			var one int
			var cu, ver string
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("SELECT 1 = %d, %v", one, err)
			}
			if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER(), @@version").Scan(&cu, &ver); err != nil {
				t.Fatal(err)
			}
			if cu != "sha2@%" || ver != mysql8test.DefaultVersion {
				t.Errorf("CURRENT_USER(), @@version = %q, %q", cu, ver)
			}
			if err := db.QueryRowContext(ctx, "select @@version;").Scan(&ver); err != nil || ver != mysql8test.DefaultVersion {
				t.Errorf("@@version = %q, %v", ver, err)
			}
			if _, err := db.ExecContext(ctx, "SET NAMES utf8mb4"); err != nil {
				t.Errorf("SET NAMES: %v", err)
			}
			var name, sslVersion, sslCipher string
			if err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssl_version'").Scan(&name, &sslVersion); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &sslCipher); err != nil {
				t.Fatal(err)
			}
			wantVersion, wantCipher := "", ""
			if mode.tls != nil {
				wantVersion, wantCipher = "TLSv1.3", "TLS_AES_128_GCM_SHA256"
			}
			if sslVersion != wantVersion || sslCipher != wantCipher {
				t.Errorf("Ssl_version, Ssl_cipher = %q, %q; want %q, %q", sslVersion, sslCipher, wantVersion, wantCipher)
			}
			// Prepared statements without parameters.
			stmt, err := db.PrepareContext(ctx, "SELECT @@version")
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			defer stmt.Close()
			if err := stmt.QueryRowContext(ctx).Scan(&ver); err != nil || ver != mysql8test.DefaultVersion {
				t.Errorf("prepared @@version = %q, %v", ver, err)
			}
			// Placeholders need interpolateParams=true.
			err = db.QueryRowContext(ctx, "SELECT ?", 1).Scan(&one)
			wantMySQLError(t, err, 1235, "42000")
		})
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s, err := mysql8test.Start(t.Context(), mysql8test.Options{Accounts: accounts()})
	if err != nil {
		t.Fatal(err)
	}
	// An idle connection mid-handshake and a logged-in one.
	idle, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	db := open(t, s, "native", "native-pw", nil, false)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(1)
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts mysql8test.Options
		want string
	}{
		{"unknown default plugin", mysql8test.Options{DefaultPlugin: "client_ed25519"}, "DefaultPlugin"},
		{"non-loopback", mysql8test.Options{Addr: "0.0.0.0:0"}, "loopback"},
		{"account plugin", mysql8test.Options{Accounts: []mysql8test.Account{{User: "a", Plugin: "dialog"}}}, "Accounts[0].Plugin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mysql8test.Start(t.Context(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func ExampleStart() {
	tlsCfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		panic(err)
	}
	s, err := mysql8test.Start(context.Background(), mysql8test.Options{
		TLS: tlsCfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{{User: "app", Password: "app-pw"}},
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Addr = "app", "app-pw", s.Addr
	cfg.TLS = s.ClientTLS("localhost")
	conn, _ := mysql.NewConnector(cfg)
	db := sql.OpenDB(conn)
	defer db.Close()
	var user string
	if err := db.QueryRow("SELECT CURRENT_USER()").Scan(&user); err != nil {
		panic(err)
	}
	fmt.Println(user)
	// Output: app@%
}

// TestServerModes drives each mode that refuses what a default server
// accepts with the real go-sql-driver, and checks what the server saw.
func TestServerModes(t *testing.T) {
	cfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	start := func(mut func(*mysql8test.Options)) *mysql8test.Server {
		o := mysql8test.Options{TLS: cfg, CAPEM: caPEM, Accounts: accounts(), ClearPasswordVerifier: func(_, secret string, _ bool) error {
			if secret != iamToken {
				return errors.New("bad token")
			}
			return nil
		}}
		mut(&o)
		return mysql8test.StartForTest(t, o)
	}

	t.Run("require_secure_transport", func(t *testing.T) {
		s := start(func(o *mysql8test.Options) { o.RequireSecureTransport = true })
		_, err := login(t, s, "native", "native-pw", nil, false)
		wantMySQLError(t, err, mysql8test.ErrSecureTransportRequired, "HY000")
		if !strings.Contains(err.Error(), mysql8test.MsgSecureTransportRequired) {
			t.Errorf("message = %v", err)
		}
		// A wrong password is still 1045: the transport is checked after it.
		_, err = login(t, s, "native", "wrong", nil, false)
		wantMySQLError(t, err, 1045, "28000")
		if _, err := login(t, s, "sha2", "sha2-pw", s.ClientTLS("localhost"), false); err != nil {
			t.Fatalf("over TLS: %v", err)
		}
	})

	t.Run("proxy requires TLS", func(t *testing.T) {
		s := start(func(o *mysql8test.Options) { o.ProxyRequiresTLS = true; o.DefaultPlugin = mysql8test.PluginNative })
		for _, user := range []string{"native", "iam", "nobody"} {
			_, err := login(t, s, user, iamToken, nil, true)
			wantMySQLError(t, err, mysql8test.ErrProxyInsecure, "HY000")
			if !strings.Contains(err.Error(), mysql8test.MsgProxyInsecure) {
				t.Errorf("message = %v", err)
			}
			// Refused before any auth exchange: no plugin ran, no secret was asked for.
			if got := lastLogin(t, s); got.OK || got.Plugin != "" {
				t.Errorf("%s: server login record %+v, want a refusal before authentication", user, got)
			}
		}
		if _, err := login(t, s, "iam", iamToken, s.ClientTLS("localhost"), true); err != nil {
			t.Fatalf("IAM over TLS: %v", err)
		}
	})

	t.Run("no RSA key", func(t *testing.T) {
		s := start(func(o *mysql8test.Options) { o.NoRSAKey = true })
		_, err := login(t, s, "sha2", "sha2-pw", nil, false)
		if err == nil {
			t.Fatal("caching_sha2 full auth over plain TCP worked without an RSA key")
		}
		got := lastLogin(t, s)
		want := mysql8test.Login{User: "sha2", Plugin: mysql8test.PluginCachingSHA2, FullAuth: true, PublicKeyRequested: true}
		if diff := cmp.Diff(want, got, ignoreReason, cmpopts.IgnoreUnexported(mysql8test.Login{})); diff != "" {
			t.Errorf("login (-want +got):\n%s", diff)
		}
		_, err = login(t, s, "sha256", "sha256-pw", nil, false)
		wantMySQLError(t, err, 1045, "28000")
		// Full auth over TLS fills the cache; fast auth then works on plain TCP.
		if _, err := login(t, s, "sha2", "sha2-pw", s.ClientTLS("localhost"), false); err != nil {
			t.Fatalf("over TLS: %v", err)
		}
		if _, err := login(t, s, "sha2", "sha2-pw", nil, false); err != nil {
			t.Fatalf("fast auth over plain TCP after a TLS login: %v", err)
		}
		if got := lastLogin(t, s); !got.FastAuth || got.TLS {
			t.Errorf("want fast auth over plain TCP, got %+v", got)
		}
	})

	t.Run("caching_sha2 only over TLS", func(t *testing.T) {
		s := start(func(o *mysql8test.Options) { o.CachingSHA2OnlyOverTLS = true })
		for range 2 {
			if _, err := login(t, s, "sha2", "sha2-pw", s.ClientTLS("localhost"), false); err != nil {
				t.Fatalf("over TLS: %v", err)
			}
			if got := lastLogin(t, s); !got.FullAuth || !got.OK {
				t.Errorf("over TLS: want full auth every time, got %+v", got)
			}
		}
		// Right after two good TLS logins: no cache, so plain TCP fails.
		if _, err := login(t, s, "sha2", "sha2-pw", nil, false); err == nil {
			t.Fatal("caching_sha2 over plain TCP worked")
		}
		if got := lastLogin(t, s); got.OK || !got.FullAuth || got.TLS {
			t.Errorf("plain TCP: got %+v", got)
		}
		if _, err := login(t, s, "native", "native-pw", nil, false); err != nil {
			t.Errorf("mysql_native_password over plain TCP: %v", err)
		}
	})
}
