package matrix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// profileFor returns the handshake profile of a matrix row: the
// registry's descriptor (broker/driver) derives it from the hints p the
// broker returned, as a prediction does. The venv has cryptography and
// PyNaCl (requirements-dev.txt); mysqlclient is built on Debian's MariaDB
// Connector/C.
func profileFor(t *testing.T, name string, p *v1.ConnectionParams) handshake.Profile {
	t.Helper()
	d, err := driver.For(name)
	if err != nil {
		t.Fatalf("matrix row %s: %v", name, err)
	}
	h := hints.Hints{Driver: p.GetHints().GetDriver(), Options: v1.OptionsMap(p.GetHints().GetOptions()), Warnings: p.GetHints().GetWarnings()}
	for _, e := range p.GetHints().GetEnv() {
		h.Env = append(h.Env, hints.EnvVar{Name: e.GetName(), Value: e.GetValue()})
	}
	return d.Profile(h, driver.Facts{Cryptography: true, PyNaCl: true, MariaDBConnC: true})
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

// predict runs the prober with the row's profile against each kind.
func (e *env) predict(t *testing.T, driver string) []prediction {
	t.Helper()
	out := make([]prediction, len(kinds))
	for i, k := range kinds {
		out[i] = e.predictKind(t, driver, k, "")
	}
	return out
}

// predictKind plays the driver's profile against k as many times as the
// real driver connects (caching_sha2: after a cache flush, so full then fast
// authentication), each time with fresh params; the hint option drop (when
// not empty) is taken away first.
func (e *env) predictKind(t *testing.T, driver string, k kind, drop string) prediction {
	t.Helper()
	if k.sha2User != "" {
		e.m8.InvalidateCache()
	}
	if s := e.flush[k.endpoint]; s != nil {
		s.InvalidateCache()
	}
	for range k.connects {
		p := e.params(t, k.endpoint, driver)
		if drop != "" {
			p = proto.CloneOf(p)
			p.Hints.Options = slices.DeleteFunc(p.Hints.Options, func(o *v1.HintOption) bool { return o.GetName() == drop })
		}
		tc, err := dbtls.Config(tlsModes[p.GetTls().GetMode()], []byte(p.GetTls().GetCaPem()), p.GetTls().GetServerName())
		if err != nil {
			t.Fatalf("%s/%s: tls config: %v", driver, k.key, err)
		}
		if tc != nil && tc.ServerName == "" {
			tc.ServerName = p.GetHost()
		}
		prof := profileFor(t, driver, p)
		if tc, err = prof.TargetTLS(tc); err != nil {
			t.Fatalf("%s/%s: %v", driver, k.key, err)
		}
		addr := net.JoinHostPort(p.GetHost(), strconv.Itoa(int(p.GetPort())))
		if d := e.dials[k.endpoint]; d != "" {
			addr = d // where the driver connects (the endpoint's dial), as the broker's diagnosis does
		}
		target := handshake.Target{Addr: addr, User: p.GetUser(),
			Secret: p.GetCredential().GetSecret(), Database: p.GetDatabase(), TLS: tc, Profile: prof,
			RevealWithoutVerifiedTLS: []string{handshake.AnyPlugin}} // the matrix's own peers: play each driver to the end
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tr, err := (&handshake.Probe{}).Run(ctx, target)
		cancel()
		if err != nil {
			return prediction{what: describeOutcome(tr.Outcome, err)}
		}
	}
	return prediction{ok: true, what: "login"}
}

// optOut is a cell run with one of the hints' opt-ins taken away, so that
// the profiles' opt-in logic meets the real driver too.
type optOut struct {
	driver, drop string
	kinds        []string // kind keys
}

var optOuts = []optOut{
	{"mysql2", "enableCleartextPlugin", []string{"pam-iam", "proxy-iam"}},
	{"connector-j", "allowPublicKeyRetrieval", []string{"sha2-plain", "sha256-plain"}},
}

// withoutOptIns runs optOuts with the real driver (one process per driver)
// and the prober and returns the table for docs/COMPATIBILITY.md.
func (e *env) withoutOptIns(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("\nThe same with one of the hints' opt-ins taken away (the profile set up without it):\n\n")
	b.WriteString("| driver | without | account | prediction | real driver |\n|---|---|---|---|---|\n")
	for _, c := range optOuts {
		var ks []kind
		var preds []prediction
		for _, key := range c.kinds {
			for _, k := range kinds {
				if k.key == key {
					ks = append(ks, k)
					preds = append(preds, e.predictKind(t, c.driver, k, c.drop))
				}
			}
		}
		e.m8.InvalidateCache()
		var res []result
		switch c.driver {
		case "mysql2":
			var cases []map[string]any
			for _, k := range ks {
				cases = append(cases, map[string]any{"endpoint": k.endpoint, "connects": k.connects, "overrides": map[string]any{c.drop: false}})
			}
			_, res = e.subprocessN(t, []string{"node", filepath.Join(e.root, "internal/matrix/runners/node/runner.js")},
				map[string]any{"broker": e.br.Addr, "cases": cases}, "")
		case "connector-j":
			res = e.runJavaKinds(t, c.driver, ks, c.drop)
		default:
			t.Fatalf("no opt-out runner for %s", c.driver)
		}
		if len(res) != len(ks) {
			t.Fatalf("%s without %s: %d results for %d kinds", c.driver, c.drop, len(res), len(ks))
		}
		for i, k := range ks {
			pred, r := preds[i], res[i]
			real := "login"
			if !r.OK {
				real = "fails"
				t.Logf("%s without %s, %s: %s", c.driver, c.drop, k.key, r.Error)
			}
			if pred.ok != r.OK {
				real = "**MISMATCH**: " + real
				t.Errorf("%s without %s, %s: the profile predicts %s, the real driver ok=%t (%s)", c.driver, c.drop, k.key, pred.what, r.OK, r.Error)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.driver, c.drop, strings.ReplaceAll(k.title, "<br>", " "), pred.what, real)
		}
	}
	return b.String()
}

// noTLS is an account on a server that offers no TLS, behind an endpoint
// that verifies TLS: it checks each profile's InsistsOnTLS.
var noTLS = kind{"no-tls", "server without TLS<br>(password, endpoint verify-identity)", "m8-no-tls", 1, "", false}

// helperRefusal is how the connbroker Python helpers refuse a connection the
// driver itself made without TLS (connbroker.aiomysql checks after connect).
const helperRefusal = "the connection is not encrypted"

// serverWithoutTLSHeader starts the noTLS table of docs/COMPATIBILITY.md.
func serverWithoutTLSHeader() string {
	return "\nAgainst a server that offers no TLS, behind an endpoint that requires verified TLS (`InsistsOnTLS`;\n" +
		"run in the same process as the row):\n\n| driver | prediction | real driver |\n|---|---|---|\n"
}

// serverWithoutTLSRow compares a row's driver on noTLS with its profile:
// does it refuse, or go on in plain text? A refusal by the connbroker helper
// after the driver connected counts as the driver going on. It returns the
// row of the table.
func serverWithoutTLSRow(t *testing.T, d driverRow, pred prediction, r result) string {
	t.Helper()
	real := "fails"
	switch {
	case r.OK:
		real = "login"
		t.Errorf("%s: logged in without TLS to an endpoint that requires it", d.name)
	case strings.Contains(r.Error, helperRefusal):
		real = "login (the connbroker helper then refuses it)"
	}
	if !r.OK {
		t.Logf("%s/%s: %s", d.name, noTLS.key, r.Error)
	}
	if pred.ok != strings.HasPrefix(real, "login") {
		real = "**MISMATCH**: " + real
		t.Errorf("%s/%s: the profile predicts %s, the real driver: %s (%s)", d.name, noTLS.key, pred.what, real, r.Error)
	}
	return fmt.Sprintf("| %s | %s | %s |\n", d.name, pred.what, real)
}

// withoutQueryParam removes key from a URL's query, e.g. a JDBC URL.
func withoutQueryParam(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String()
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

// predictGate plays prof, a libmysqlclient profile, against the IAM
// endpoint, for the gate that cleartextGate runs for real.
func (e *env) predictGate(t *testing.T, prof handshake.Profile) (bool, string) {
	t.Helper()
	p := e.params(t, "mdb-iam", "mysqlclient")
	tc, err := dbtls.Config(tlsModes[p.GetTls().GetMode()], []byte(p.GetTls().GetCaPem()), p.GetTls().GetServerName())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := (&handshake.Probe{}).Run(ctx, handshake.Target{Addr: net.JoinHostPort(p.GetHost(), strconv.Itoa(int(p.GetPort()))),
		User: p.GetUser(), Secret: p.GetCredential().GetSecret(), TLS: tc, Profile: prof,
		RevealWithoutVerifiedTLS: []string{handshake.AnyPlugin}}) // the matrix's own peers
	if err != nil {
		return false, describeOutcome(tr.Outcome, err)
	}
	return true, "login"
}

// predictionsFooter says which profiles the table cannot check.
func predictionsFooter() string {
	return "\nmysqlclient and sqlalchemy+mysqlclient are Debian's build on MariaDB Connector/C (`MysqlclientMariaDBConnC`).\n" +
		"Oracle's mysql CLI (`MySQLCLI`) cannot run on Debian 12. Oracle's libmysqlclient clear-text gate\n" +
		"(`MysqlclientLibmysql`, shared by `MySQLCLI`, and `ConnectorPythonC` without `auth_plugin`) is checked against the libmysqlclient bundled in\n" +
		"mysql-connector-python's C extension (the libmysqlclient-cleartext-gate subtest): without the opt-in it predicts\n" +
		"the refusal (2059), with it the login.\n"
}
