package driver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	"github.com/connbroker/connbroker/broker/validate"
	"github.com/connbroker/connbroker/internal/testpeer/forward"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// The facts of this repository's environment (.venv and Debian 12):
// PyMySQL with cryptography and PyNaCl, mysqlclient on MariaDB
// Connector/C.
var venvFacts = driver.Facts{Cryptography: true, PyNaCl: true, MariaDBConnC: true}

// pyLogin is run by the venv's python: it reads ConnectionParams (binary)
// on stdin, builds the driver's arguments with connbroker.hints.driver_kwargs
// only, connects and runs SELECT 1.
const pyLogin = `
import sys
drv = sys.argv[1]
if drv == "mysql-connector-python":
    import _mysql_connector  # before ssl: see the hints' warning
from connbroker.hints import driver_kwargs
from connbroker.v1 import broker_pb2
p = broker_pb2.ConnectionParams.FromString(sys.stdin.buffer.read())
kw = driver_kwargs(p)
if drv == "pymysql":
    import pymysql
    c = pymysql.connect(**kw)
elif drv == "mysqlclient":
    import MySQLdb
    c = MySQLdb.connect(**kw)
else:
    import mysql.connector
    c = mysql.connector.connect(**kw)
cur = c.cursor()
cur.execute("SELECT 1")
cur.fetchone()
c.close()
`

// root is the module root (this package is broker/driver).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// realLogin logs in with the real driver d set up only by h; nil is a
// successful login.
func realLogin(t *testing.T, d *driver.Descriptor, h hints.Hints, secret string, db *mariadbtest.Server) error {
	t.Helper()
	switch d.Name {
	case "pymysql", "mysqlclient", "mysql-connector-python", "mysql-connector-python-pure":
		opts, err := v1.OptionsFromMap(h.Options)
		if err != nil {
			t.Fatal(err)
		}
		p := &v1.ConnectionParams{Endpoint: "e", Credential: &v1.Credential{Secret: secret},
			Tls:   &v1.TLSSettings{CaPem: string(db.CAPEM)},
			Hints: &v1.DriverHints{Driver: h.Driver, Options: opts, SecretOption: h.SecretOption}}
		in, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		py := filepath.Join(root(t), ".venv", "bin", "python")
		if _, err := os.Stat(py); err != nil {
			t.Fatalf("the venv's python is needed (make venv): %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, py, "-c", pyLogin, d.Name)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root(t), "clients", "python"))
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, lastLine(out))
		}
		return nil
	case "mariadb-cli":
		bin, err := exec.LookPath("mariadb")
		if err != nil {
			t.Fatalf("the mariadb client is needed (apt-get install mariadb-client): %v", err)
		}
		args := []string{"--no-defaults"}
		keys := make([]string, 0, len(h.Options))
		for k := range h.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := h.Options[k].(type) {
			case bool:
				if v {
					args = append(args, "--"+k)
				}
			default:
				args = append(args, fmt.Sprintf("--%s=%v", k, strings.ReplaceAll(fmt.Sprint(v), hints.CAFile, db.CAFile)))
			}
		}
		args = append(args, "--connect-timeout=5", "-e", "SELECT 1")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+secret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, lastLine(out))
		}
		return nil
	case "go-sql-driver":
		// As clients/go does: the hints' options, and for tls=connbroker a
		// tls.Config with the endpoint's CA and server name.
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", h.Options["addr"].(string), h.Options["user"].(string), secret
		cfg.AllowCleartextPasswords = h.Options["allowCleartextPasswords"] == true
		cfg.Timeout = 5 * time.Second
		switch h.Options["tls"] {
		case driver.GoTLSConfigName:
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(db.CAPEM)
			cfg.TLS = &tls.Config{RootCAs: pool, ServerName: goServerName, MinVersion: tls.VersionTLS12}
		case "false":
		default:
			t.Fatalf("tls=%v not handled by this test", h.Options["tls"])
		}
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			return err
		}
		sdb := sql.OpenDB(c)
		defer sdb.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return sdb.PingContext(ctx)
	}
	t.Fatalf("no real login for %s", d.Name)
	return nil
}

// goServerName is the name the go-sql-driver login verifies (the
// endpoint's tls.server_name in the dial test).
var goServerName = "localhost"

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// predict plays d as the hints h set it up, against in's connect address,
// with the endpoint's TLS configuration.
func predict(t *testing.T, d *driver.Descriptor, h hints.Hints, in hints.Input, secret string, db *mariadbtest.Server) (*handshake.Transcript, error) {
	t.Helper()
	ep, err := dbtls.Config(in.TLSMode, db.CAPEM, in.VerifyName())
	if err != nil {
		t.Fatal(err)
	}
	prof := d.Profile(h, venvFacts)
	tc, err := prof.TargetTLS(ep)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return (&handshake.Probe{}).Run(ctx, handshake.Target{Addr: in.ConnectAddr(), User: in.User, Secret: secret, TLS: tc, Profile: prof})
}

type realCase struct {
	driver   string
	wantOK   bool
	wantStop string // the prediction's stop code, when it must stop
}

// check renders the hints for in, predicts, logs in for real, and fails
// when the prediction, the real outcome and the expectation disagree.
func check(t *testing.T, db *mariadbtest.Server, in hints.Input, secret string, cases []realCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.driver, func(t *testing.T) {
			d, err := driver.For(c.driver)
			if err != nil {
				t.Fatal(err)
			}
			h := d.Render(in)
			tr, perr := predict(t, d, h, in, secret, db)
			rerr := realLogin(t, d, h, secret, db)
			t.Logf("hints %v; predicted: %s (%v); real: %v", h.Options, tr.Outcome.Result, perr, rerr)
			if (perr == nil) != (rerr == nil) {
				t.Errorf("prediction (err %v) disagrees with the real driver (err %v)", perr, rerr)
			}
			if (rerr == nil) != c.wantOK {
				t.Errorf("real login err = %v, want ok=%v", rerr, c.wantOK)
			}
			if c.wantStop != "" && (tr.Outcome.Stop == nil || tr.Outcome.Stop.Code != c.wantStop) {
				t.Errorf("prediction stop = %+v, want %s", tr.Outcome.Stop, c.wantStop)
			}
			unsupported := false
			for _, w := range h.Warnings {
				unsupported = unsupported || strings.HasPrefix(w, hints.UnsupportedPrefix)
			}
			if !c.wantOK && !unsupported && in.TLSMode != config.TLSDisabled {
				t.Errorf("the login fails but the hints carry no %q warning: %q", hints.UnsupportedPrefix, h.Warnings)
			}
			if c.wantOK && unsupported {
				t.Errorf("the login works but the hints say unsupported: %q", h.Warnings)
			}
		})
	}
}

// TestRealDrivers runs the real drivers, set up only by the hints, on a
// real MariaDB, where the issue found the product wrong: the host
// localhost, a server that requires TLS with tls disabled, and a tunnel
// (dial) whose address the certificate does not name.
func TestRealDrivers(t *testing.T) {
	db := mariadbtest.StartForTest(t, mariadbtest.Options{})
	t.Run("localhost uses TCP with the hints", func(t *testing.T) {
		in := hints.Input{Host: "localhost", Port: db.Port, User: mariadbtest.NativeUser, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "localhost"}
		check(t, db, in, mariadbtest.NativePassword, []realCase{
			{driver: "pymysql", wantOK: true},
			{driver: "mysqlclient", wantOK: true},
			{driver: "mysql-connector-python", wantOK: true},
			{driver: "mysql-connector-python-pure", wantOK: true},
			{driver: "mariadb-cli", wantOK: true},
		})
	})
	t.Run("localhost without the option file takes the socket", func(t *testing.T) {
		in := hints.Input{Host: "localhost", Port: db.Port, User: mariadbtest.NativeUser, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "localhost"}
		d, _ := driver.For("mysqlclient")
		h := d.Render(in)
		if h.Options["read_default_file"] != hints.TCPOptionFile {
			t.Fatalf("mysqlclient hints for localhost lack read_default_file: %v", h.Options)
		}
		delete(h.Options, "read_default_file")
		tr, perr := predict(t, d, h, in, mariadbtest.NativePassword, db)
		rerr := realLogin(t, d, h, mariadbtest.NativePassword, db)
		if rerr == nil || !strings.Contains(rerr.Error(), "2002") {
			t.Errorf("real mysqlclient without the option file: %v, want error 2002 (socket)", rerr)
		}
		if perr == nil || tr.Outcome.Stop == nil || tr.Outcome.Stop.Code != handshake.StopUnixSocket {
			t.Errorf("prediction %v %+v, want stop %s", perr, tr.Outcome.Stop, handshake.StopUnixSocket)
		}
	})
	t.Run("tls disabled, server requires TLS", func(t *testing.T) {
		// The account has REQUIRE SSL: plain TCP gets 1045. PyMySQL's
		// ssl_disabled and mariadb's --skip-ssl mean no TLS at all, so the
		// prediction must fail too (it used to play PrefersTLS and work).
		in := hints.Input{Host: "127.0.0.1", Port: db.Port, User: mariadbtest.TLSUser, TLSMode: config.TLSDisabled}
		check(t, db, in, mariadbtest.TLSPassword, []realCase{
			{driver: "pymysql"}, {driver: "mysqlclient"}, {driver: "mysql-connector-python"},
			{driver: "mysql-connector-python-pure"}, {driver: "mariadb-cli"}, {driver: "go-sql-driver"},
		})
	})
	t.Run("dial through a forwarder, TLS verifies the real name", func(t *testing.T) {
		// The forwarder listens on 127.0.0.2, which the certificate
		// (localhost, 127.0.0.1) does not name.
		fw := forward.StartForTest(t, "127.0.0.2:0", db.Addr)
		in := hints.Input{Host: "localhost", Port: db.Port, Dial: fw.Addr, User: mariadbtest.NativeUser, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "localhost"}
		check(t, db, in, mariadbtest.NativePassword, []realCase{
			{driver: "go-sql-driver", wantOK: true},
			// These check the name against the host they connect to.
			{driver: "pymysql"}, {driver: "mysqlclient"}, {driver: "mysql-connector-python"}, {driver: "mariadb-cli"},
		})
		// The validator dials the dial address and verifies the real name.
		res := validate.New(1).Validate(t.Context(), validate.Target{Endpoint: "e", Addr: fw.Addr, User: mariadbtest.NativeUser,
			Secret: credential.NewSecret(mariadbtest.NativePassword), TLSMode: config.TLSVerifyIdentity, CAPEM: db.CAPEM, ServerName: "localhost", Timeout: 10 * time.Second})
		if !res.OK {
			t.Errorf("validate through the forwarder: %+v", res)
		}
		// Without the server name it verifies the forwarder's address and
		// refuses the server.
		res = validate.New(1).Validate(t.Context(), validate.Target{Endpoint: "e", Addr: fw.Addr, User: mariadbtest.NativeUser,
			Secret: credential.NewSecret(mariadbtest.NativePassword), TLSMode: config.TLSVerifyIdentity, CAPEM: db.CAPEM, ServerName: "127.0.0.2", Timeout: 10 * time.Second})
		if res.OK {
			t.Errorf("validate against the forwarder's own name worked: the certificate does not name it")
		}
		if fw.Accepted() == 0 {
			t.Errorf("nothing went through the forwarder")
		}
	})
}
