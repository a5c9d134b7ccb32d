package diagnose_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/validate"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

// failure is how one real driver failed: the MySQL error number it
// reported (0 when it reported none) and its output.
type failure struct {
	number int
	out    string
}

// plainDriver is a real driver logging in over plain TCP, as the hints
// set it up for tls: {mode: disabled}.
type plainDriver struct {
	name  string
	login func(t *testing.T, host string, port int, user, secret string) (failure, bool)
}

var pyErrNumber = regexp.MustCompile(`\((\d{4}),`)

func realPlainDrivers() []plainDriver {
	return []plainDriver{
		{"go-sql-driver tls=false", func(t *testing.T, host string, port int, user, secret string) (failure, bool) {
			err := goLogin(t, host, port, user, secret, nil)
			if err == nil {
				return failure{}, true
			}
			var me *mysql.MySQLError
			f := failure{out: err.Error()}
			if errors.As(err, &me) {
				f.number = int(me.Number)
			}
			return f, false
		}},
		{"PyMySQL ssl_disabled", func(t *testing.T, host string, port int, user, secret string) (failure, bool) {
			err := pyMySQL(true, true, true).login(t, login{host: host, port: port, user: user, secret: secret})
			if err == nil {
				return failure{}, true
			}
			f := failure{out: err.Error()}
			if m := pyErrNumber.FindStringSubmatch(f.out); m != nil {
				f.number, _ = strconv.Atoi(m[1])
			}
			return f, false
		}},
		{"mariadb CLI --skip-ssl", func(t *testing.T, host string, port int, user, secret string) (failure, bool) {
			err := mariadbCLI(true).login(t, login{host: host, port: port, user: user, secret: secret})
			if err == nil {
				return failure{}, true
			}
			f := failure{out: err.Error()}
			if ce, ok := diagnose.ParseCLIError("mariadb", f.out); ok {
				f.number = ce.Number
			}
			return f, false
		}},
	}
}

func goLogin(t *testing.T, host string, port int, user, secret string, tc *tls.Config) error {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.TLS, cfg.Timeout = "tcp", net.JoinHostPort(host, strconv.Itoa(port)), user, secret, tc, 5*time.Second
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// TestServerBehavioursRealDrivers puts the real drivers, set up for plain
// TCP, in front of every server that refuses plain TCP in its own way:
// each driver is refused as that server refuses it, and the diagnosis of
// the same login (the prober's transcript plus go-sql-driver's error)
// leads with the finding that says so. A TLS login to the same server
// works, so the transport is the cause. It also reproduces
// unix-socket-used with mysqlclient and the mariadb CLI for an endpoint
// named localhost.
func TestServerBehavioursRealDrivers(t *testing.T) {
	tlsCfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	const appUser, appPass = "app", "app-pass-7c1d"
	native := []mysql8test.Account{{User: appUser, Password: appPass, Plugin: mysql8test.PluginNative}}
	sha2 := []mysql8test.Account{{User: sha2User, Password: sha2Pass}}
	proxy := mysql8test.StartForTest(t, mysql8test.Options{TLS: tlsCfg, CAPEM: caPEM, DefaultPlugin: mysql8test.PluginNative, Accounts: native, ProxyRequiresTLS: true})
	secure := mysql8test.StartForTest(t, mysql8test.Options{TLS: tlsCfg, CAPEM: caPEM, DefaultPlugin: mysql8test.PluginNative, Accounts: native, RequireSecureTransport: true})
	noRSA := mysql8test.StartForTest(t, mysql8test.Options{Accounts: sha2, NoRSAKey: true})
	onlyTLS := mysql8test.StartForTest(t, mysql8test.Options{TLS: tlsCfg, CAPEM: caPEM, Accounts: sha2, CachingSHA2OnlyOverTLS: true})
	m := mariadbtest.StartForTest(t, mariadbtest.Options{})

	cases := []struct {
		name       string
		host       string
		port       int
		user, pass string
		tls        *tls.Config // a TLS login that must work; nil: none possible
		before     func()
		numbers    map[string]int // per driver name; absent: any failure
		want       string         // the primary finding
		causeHas   string
		loginAlone bool // go-sql-driver's typed error alone gives the same primary finding
	}{
		{name: "proxy answers 1105 without TLS", host: proxy.Host, port: proxy.Port, user: appUser, pass: appPass, tls: proxy.ClientTLS("127.0.0.1"),
			numbers: map[string]int{"go-sql-driver tls=false": 1105, "PyMySQL ssl_disabled": 1105, "mariadb CLI --skip-ssl": 1105},
			want:    diagnose.CodeServerRequiresTLS, causeHas: "server does not allow insecure connections", loginAlone: true},
		{name: "MySQL require_secure_transport 3159", host: secure.Host, port: secure.Port, user: appUser, pass: appPass, tls: secure.ClientTLS("127.0.0.1"),
			numbers: map[string]int{"go-sql-driver tls=false": 3159, "PyMySQL ssl_disabled": 3159, "mariadb CLI --skip-ssl": 3159},
			want:    diagnose.CodeServerRequiresTLS, causeHas: "require_secure_transport=ON", loginAlone: true},
		{name: "MariaDB REQUIRE SSL account, 1045", host: m.Host, port: m.Port, user: mariadbtest.TLSUser, pass: mariadbtest.TLSPassword, tls: m.TLSConfig(),
			numbers: map[string]int{"go-sql-driver tls=false": 1045, "PyMySQL ssl_disabled": 1045, "mariadb CLI --skip-ssl": 1045},
			want:    diagnose.CodeServerRequiresTLS, causeHas: "probably requires TLS"},
		{name: "no RSA key, no TLS", host: noRSA.Host, port: noRSA.Port, user: sha2User, pass: sha2Pass, before: noRSA.InvalidateCache,
			numbers: map[string]int{"PyMySQL ssl_disabled": 1045, "mariadb CLI --skip-ssl": 2061}, // 2061: "Couldn't read RSA public key from server"
			want:    diagnose.CodeServerHasNoRSA, causeHas: "no RSA key pair"},
		{name: "caching_sha2 only over TLS", host: onlyTLS.Host, port: onlyTLS.Port, user: sha2User, pass: sha2Pass, tls: onlyTLS.ClientTLS("127.0.0.1"),
			numbers: map[string]int{"PyMySQL ssl_disabled": 1045, "mariadb CLI --skip-ssl": 2061}, // 2061: "Couldn't read RSA public key from server"
			want:    diagnose.CodeCachingSHA2OnlyTLS, causeHas: "only over TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range realPlainDrivers() {
				if tc.before != nil {
					tc.before()
				}
				f, ok := d.login(t, tc.host, tc.port, tc.user, tc.pass)
				if ok {
					t.Errorf("%s logged in over plain TCP", d.name)
					continue
				}
				if want, ok := tc.numbers[d.name]; ok && f.number != want {
					t.Errorf("%s: error %d, want %d: %s", d.name, f.number, want, f.out)
				}
				t.Logf("%s: %s", d.name, f.out)
			}
			if tc.tls != nil {
				if err := goLogin(t, tc.host, tc.port, tc.user, tc.pass, tc.tls); err != nil {
					t.Errorf("go-sql-driver over TLS: %v", err)
				}
			}

			// The diagnosis: the prober playing go-sql-driver without TLS,
			// and go-sql-driver's own error.
			if tc.before != nil {
				tc.before()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			tr, perr := (&handshake.Probe{}).Run(ctx, handshake.Target{Addr: net.JoinHostPort(tc.host, strconv.Itoa(tc.port)), User: tc.user, Secret: tc.pass, Profile: handshake.GoSQLDriver(true)})
			if tc.before != nil {
				tc.before()
			}
			lerr := goLogin(t, tc.host, tc.port, tc.user, tc.pass, nil)
			fs := diagnose.Diagnose(diagnose.Input{Transcript: tr, Err: perr, Host: tc.host, Port: tc.port, Login: &diagnose.Login{Stage: "auth", Err: lerr}})
			p, ok := diagnose.Primary(fs)
			if !ok || p.Code != tc.want || !strings.Contains(p.Cause, tc.causeHas) {
				t.Fatalf("primary finding %+v, want %s with %q\nall: %s\ntranscript:\n%s", p, tc.want, tc.causeHas, render(fs), tr)
			}
			if v := diagnose.Verdict(fs); !strings.HasPrefix(v, tc.want+": ") || !strings.Contains(v, p.Fix) {
				t.Errorf("verdict %q is not the primary finding %+v", v, p)
			}
			if tc.loginAlone {
				// Without a transcript (no probe ran), the *mysql.MySQLError
				// of the real driver is explained the same way.
				fs := diagnose.Diagnose(diagnose.Input{Host: tc.host, Port: tc.port, Login: &diagnose.Login{Stage: "auth", Err: lerr}})
				if p, ok := diagnose.Primary(fs); !ok || p.Code != tc.want {
					t.Errorf("from go-sql-driver's error %v alone: %s, want %s", lerr, render(fs), tc.want)
				}
			}
		})
	}

	t.Run("unix socket used for localhost", func(t *testing.T) {
		py, _ := filepath.Abs(filepath.Join("..", "..", ".venv", "bin", "python"))
		if _, err := os.Stat(py); err != nil {
			t.Fatalf("mysqlclient is needed in %s: run `make venv`: %v", py, err)
		}
		mysqlclient := func(host string) (string, error) {
			cmd := exec.CommandContext(t.Context(), py, filepath.Join("testdata", "mysqlclient_login.py"), host, strconv.Itoa(m.Port), mariadbtest.NativeUser)
			cmd.Env = append(os.Environ(), "CONNBROKER_TEST_SECRET="+mariadbtest.NativePassword)
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}
		// The same server over TCP works: the host name is the difference.
		if out, err := mysqlclient("127.0.0.1"); err != nil {
			t.Fatalf("mysqlclient to 127.0.0.1:%d: %v: %s", m.Port, err, out)
		}
		out, err := mysqlclient("localhost")
		if err == nil {
			t.Fatalf("mysqlclient to localhost:%d reached a server through the socket: %s", m.Port, out)
		}
		f := strings.Fields(out)
		if len(f) < 3 || f[0] != "error" {
			t.Fatalf("mysqlclient output %q", out)
		}
		n, _ := strconv.Atoi(f[1])
		clients := []diagnose.ClientError{{Driver: "mysqlclient", Number: n, Message: strings.Join(f[2:], " ")}}

		optFile := filepath.Join(t.TempDir(), "client.cnf")
		if err := os.WriteFile(optFile, fmt.Appendf(nil, "[client]\nhost=localhost\nport=%d\n", m.Port), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), "mariadb", "--defaults-file="+optFile, "-u", mariadbtest.NativeUser, "--connect-timeout=5", "-e", "SELECT 1")
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+mariadbtest.NativePassword)
		cliOut, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("the mariadb CLI with host=localhost port=%d in its option file reached a server: %s", m.Port, cliOut)
		}
		ce, ok := diagnose.ParseCLIError("mariadb CLI", string(cliOut))
		if !ok {
			t.Fatalf("no ERROR line in the mariadb CLI's output %q", cliOut)
		}
		clients = append(clients, ce)
		for _, c := range clients {
			if _, serr := os.Stat(mariadbtest.DefaultClientSocket); errors.Is(serr, os.ErrNotExist) && c.Number != diagnose.CRConnectionError {
				t.Errorf("%s: error %d %q, want %d", c.Driver, c.Number, c.Message, diagnose.CRConnectionError)
			}
			fs := diagnose.Diagnose(diagnose.Input{Host: "localhost", Port: m.Port, Client: &c})
			p, ok := diagnose.Primary(fs)
			if !ok || p.Code != diagnose.CodeUnixSocketUsed || !strings.Contains(p.Cause, "localhost:"+strconv.Itoa(m.Port)) || !strings.Contains(p.Fix, "127.0.0.1") {
				t.Errorf("%s (%d %s): findings %s, want %s", c.Driver, c.Number, c.Message, render(fs), diagnose.CodeUnixSocketUsed)
			}
		}
	})
}

// TestVerdictStaticPasswordToIAMAccount: a static password sent to the
// MariaDB PAM account that plays an RDS IAM account. The real go-sql-driver
// login (validate, without the clear-text opt-in, as for auth: password)
// stops at the AuthSwitchRequest to mysql_clear_password; the verdict is
// static-password-to-iam-account and never the opt-in, which would only
// send the wrong secret in clear.
func TestVerdictStaticPasswordToIAMAccount(t *testing.T) {
	iam := &mariadbtest.IAMOptions{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Region: region}
	m := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: iam})
	if !m.IAMEnabled {
		t.Fatalf("the MariaDB PAM IAM account is needed (run as root): %s", m.IAMDisabledReason)
	}
	const static = "a-static-password-5e2f"
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res := validate.New(1).Validate(ctx, validate.Target{Endpoint: "iam-static", Addr: m.Addr, User: mariadbtest.IAMUser,
		Secret: credential.NewSecret(static), TLSMode: config.TLSVerifyIdentity, CAPEM: m.CAPEM, ServerName: "127.0.0.1"})
	st, failed := res.Failed()
	if !failed || st.Name != "auth" || !errors.Is(st.Err, mysql.ErrCleartextPassword) {
		t.Fatalf("validate: ok=%v stage %+v, want auth failing with mysql.ErrCleartextPassword", res.OK, st)
	}
	tc := m.TLSConfig()
	tr, perr := (&handshake.Probe{}).Run(ctx, handshake.Target{Addr: m.Addr, User: mariadbtest.IAMUser, Secret: static, TLS: tc, Profile: handshake.GoSQLDriver(false)})
	login := &diagnose.Login{Stage: st.Name, Err: st.Err}
	for name, in := range map[string]diagnose.Input{
		"transcript and login": {Transcript: tr, Err: perr, Host: m.Host, Port: m.Port, CustomCA: true, Login: login},
		"login only":           {Host: m.Host, Port: m.Port, Login: login},
	} {
		fs := diagnose.Diagnose(in)
		v := diagnose.Verdict(fs)
		if !strings.HasPrefix(v, diagnose.CodeStaticPasswordToIAM+": ") || !strings.Contains(v, "auth: iam") {
			t.Errorf("%s: verdict %q, want %s with the auth: iam fix\n%s", name, v, diagnose.CodeStaticPasswordToIAM, render(fs))
		}
		for _, f := range fs {
			if strings.Contains(f.Fix, "allowCleartextPasswords") {
				t.Errorf("%s: finding %s suggests the clear-text opt-in for a static password: %q", name, f.Code, f.Fix)
			}
		}
		if strings.Contains(v+render(fs), static) {
			t.Fatalf("%s: the secret leaked into the findings", name)
		}
	}
}
