package matrix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/handshake"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// profileFor returns the broker/handshake profile of a matrix row, set up
// the way the broker's hints p set up that driver (the same opt-ins and TLS
// options). The venv has cryptography and PyNaCl (requirements-dev.txt);
// mysqlclient is built on Debian's MariaDB Connector/C.
func profileFor(driver string, p *v1.ConnectionParams) handshake.Profile {
	o := p.GetHints().GetOptions().AsMap()
	on := func(key string) bool { v, _ := o[key].(bool); return v }
	var prof handshake.Profile
	switch driver {
	case "pymysql", "sqlalchemy+pymysql":
		prof = handshake.PyMySQL(true, true)
	case "aiomysql":
		prof = handshake.AIOMySQL(true)
	case "mysqlclient", "sqlalchemy+mysqlclient":
		prof = handshake.MysqlclientMariaDBConnC()
	case "mysql-connector-python", "sqlalchemy+mysqlconnector", "mysql-connector-python-pure":
		if driver == "mysql-connector-python-pure" {
			prof = handshake.ConnectorPythonPure()
		} else {
			prof = handshake.ConnectorPythonC()
		}
		if o["auth_plugin"] == handshake.PluginClearPassword {
			prof.FirstPlugin, prof.ClearTextOptIn = handshake.PluginClearPassword, true
		}
		prof.InsistsOnTLS = on("ssl_verify_cert")
	case "go-sql-driver":
		prof = handshake.GoSQLDriver(on("allowCleartextPasswords"))
	case "mysql2":
		prof = handshake.MySQL2(on("enableCleartextPlugin"))
	case "mariadb-cli":
		prof = handshake.MariaDBCLI()
	case "connector-j":
		prof = handshake.ConnectorJ(on("allowPublicKeyRetrieval"))
	default:
		panic("no profile for matrix row " + driver)
	}
	if p.GetTls().GetMode() == v1.TLSMode_TLS_MODE_DISABLED {
		// Every driver's hints turn TLS off explicitly (ssl_disabled,
		// ssl_mode DISABLED, --skip-ssl, sslMode=DISABLED, no ssl option).
		prof.PrefersTLS = false
	}
	return prof
}

// tlsModes maps the API's TLS modes to the configuration's.
var tlsModes = map[v1.TLSMode]config.TLSMode{
	v1.TLSMode_TLS_MODE_DISABLED:        config.TLSDisabled,
	v1.TLSMode_TLS_MODE_PREFERRED:       config.TLSPreferred,
	v1.TLSMode_TLS_MODE_REQUIRED:        config.TLSRequired,
	v1.TLSMode_TLS_MODE_VERIFY_CA:       config.TLSVerifyCA,
	v1.TLSMode_TLS_MODE_VERIFY_IDENTITY: config.TLSVerifyIdentity,
}

// prediction is what the prober, playing a driver's profile, says about one
// cell, before the real driver runs.
type prediction struct {
	ok   bool
	what string // "login" or why not, e.g. "stop tls-required"
}

// predict runs the prober with the row's profile against each kind, as many
// times as the real driver connects (caching_sha2: after a cache flush, so
// full then fast authentication), each time with fresh params.
func (e *env) predict(t *testing.T, driver string) []prediction {
	t.Helper()
	out := make([]prediction, len(kinds))
	for i, k := range kinds {
		if k.sha2User != "" {
			e.m8.InvalidateCache()
		}
		out[i] = prediction{ok: true, what: "login"}
		for range k.connects {
			p := e.params(t, k.endpoint, driver)
			tc, err := dbtls.Config(tlsModes[p.GetTls().GetMode()], []byte(p.GetTls().GetCaPem()), p.GetTls().GetServerName())
			if err != nil {
				t.Fatalf("%s/%s: tls config: %v", driver, k.key, err)
			}
			if tc != nil && tc.ServerName == "" {
				tc.ServerName = p.GetHost()
			}
			target := handshake.Target{Addr: net.JoinHostPort(p.GetHost(), strconv.Itoa(int(p.GetPort()))), User: p.GetUser(),
				Secret: p.GetCredential().GetSecret(), Database: p.GetDatabase(), TLS: tc, Profile: profileFor(driver, p)}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			tr, err := (&handshake.Probe{}).Run(ctx, target)
			cancel()
			if err != nil {
				out[i] = prediction{what: describeOutcome(tr.Outcome, err)}
				break
			}
		}
	}
	return out
}

// describeOutcome says briefly why the prober did not log in.
func describeOutcome(o handshake.Outcome, err error) string {
	var tlsErr *handshake.TLSError
	switch {
	case o.Stop != nil:
		return "stop " + o.Stop.Code
	case o.Server != nil:
		return fmt.Sprintf("ERR %d", o.Server.Code)
	case errors.As(err, &tlsErr):
		return "TLS refused"
	}
	return string(o.Result)
}

// checkPredictions compares the prober's predictions with the real run of
// one row and returns the row of the comparison table.
func checkPredictions(t *testing.T, d driverRow, prof string, pred []prediction, res []result) string {
	t.Helper()
	cells := make([]string, len(kinds))
	for i, k := range kinds {
		p, r := pred[i], res[i]
		switch {
		case p.ok == r.OK && p.ok:
			cells[i] = "pass"
		case p.ok == r.OK:
			cells[i] = "fails: " + p.what
		default:
			cells[i] = fmt.Sprintf("**MISMATCH** (predicted %s, real %t)", p.what, r.OK)
			t.Errorf("%s/%s: the %s profile predicts %s, the real driver's login ok=%t (%s)", d.name, k.key, prof, p.what, r.OK, r.Error)
		}
	}
	return fmt.Sprintf("| %s | %s | %s |\n", d.name, prof, strings.Join(cells, " | "))
}

// predictionsHeader starts the comparison table of docs/COMPATIBILITY.md.
func predictionsHeader() string {
	var b strings.Builder
	b.WriteString("\n## Driver profiles vs the real drivers\n\n")
	b.WriteString("Before each row runs, the handshake prober (`broker/handshake`) plays the row's driver profile, set up as\n")
	b.WriteString("the hints set up the driver (same TLS settings and opt-ins), against the same endpoints with fresh params;\n")
	b.WriteString("`connbroker diagnose` uses these profiles for its driver table. The test fails when a prediction differs\n")
	b.WriteString("from the real driver's outcome above. *pass*: both logged in; *fails: ...*: both failed, with the prober's reason.\n\n")
	b.WriteString("| driver | profile |")
	sep := "|---|---|"
	for _, k := range kinds {
		b.WriteString(" " + k.title + " |")
		sep += "---|"
	}
	b.WriteString("\n" + sep + "\n")
	return b.String()
}

// predictGate plays Oracle's libmysqlclient profile against the IAM
// endpoint with and without the clear-text opt-in, for the gate that
// cleartextGate runs for real.
func (e *env) predictGate(t *testing.T, optIn bool) (bool, string) {
	t.Helper()
	p := e.params(t, "mdb-iam", "mysqlclient")
	tc, err := dbtls.Config(tlsModes[p.GetTls().GetMode()], []byte(p.GetTls().GetCaPem()), p.GetTls().GetServerName())
	if err != nil {
		t.Fatal(err)
	}
	prof := handshake.MysqlclientLibmysql(optIn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := (&handshake.Probe{}).Run(ctx, handshake.Target{Addr: net.JoinHostPort(p.GetHost(), strconv.Itoa(int(p.GetPort()))),
		User: p.GetUser(), Secret: p.GetCredential().GetSecret(), TLS: tc, Profile: prof})
	if err != nil {
		return false, describeOutcome(tr.Outcome, err)
	}
	return true, "login"
}

// predictionsFooter says which profiles the table cannot check.
func predictionsFooter() string {
	return "\nmysqlclient and sqlalchemy+mysqlclient are Debian's build on MariaDB Connector/C (`MysqlclientMariaDBConnC`).\n" +
		"Oracle's mysql CLI (`MySQLCLI`) cannot run on Debian 12. Oracle's libmysqlclient clear-text gate\n" +
		"(`MysqlclientLibmysql`, shared by `MySQLCLI`) is checked against the libmysqlclient bundled in\n" +
		"mysql-connector-python's C extension (the libmysqlclient-cleartext-gate subtest): without the opt-in it predicts\n" +
		"the refusal (2059), with it the login.\n"
}
