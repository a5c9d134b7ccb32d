package matrix

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/internal/testbroker"
	"github.com/connbroker/connbroker/internal/testpeer/forward"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

// The differential matrix (grid): every runnable driver × account kind ×
// server behaviour × each TLS mode the hints can produce. Every cell runs
// the real driver set up only by GetConnectionParams and, before it, the
// prober playing the driver's registry profile (broker/driver) against the
// same server; the test fails on any disagreement. The outcome may be a
// failure (a server that refuses plain TCP, say): the grid checks the
// prediction, not that the login works.

// gridMode is one TLS mode as the configuration spells it, with the short
// key used in account and endpoint names.
type gridMode struct{ key, mode string }

var gridModes = []gridMode{
	{"off", "disabled"}, {"pref", "preferred"}, {"req", "required"}, {"vca", "verify-ca"}, {"vid", "verify-identity"},
}

// verifyingModes are the modes an IAM endpoint may have: the configuration
// refuses an IAM token to a server it does not verify.
var verifyingModes = []string{"vca", "vid"}

// gridBehaviour is one row group: a server behaviour and an account kind on
// it. user and endpointYAML get the mode key: accounts on the MySQL-8 grid
// peers exist once per mode, so that each caching_sha2 cell starts from an
// empty cache (full authentication, then fast) whatever ran before it.
type gridBehaviour struct {
	key, title   string
	modes        []string // mode keys that run; nil: all of gridModes
	connects     int
	user         func(mode string) string
	endpointYAML func(mode gridMode) string
	flush        *mysql8test.Server // caching_sha2 cache to flush before a cell
	dial         string             // where drivers connect, when not host:port
}

// gridCell is one endpoint of the grid: a behaviour in one TLS mode.
type gridCell struct {
	b    *gridBehaviour
	mode gridMode
	k    kind
}

// Grid account passwords (one per plugin; users differ per mode).
const (
	gridSHA2Password   = "grid-sha2-pw-1"
	gridSHA256Password = "grid-sha256-pw-1"
	gridNativePassword = "grid-native-pw-1"
)

// gridDBHost is the database name the dial peer's certificate names; it is
// never resolved: drivers connect to the tunnel.
const gridDBHost = "db.internal.example"

// startGridM8 starts a MySQL-8 peer with, for every mode, a caching_sha2,
// sha256 and native account (c2_MODE, s256_MODE, nat_MODE), set up by mod.
func startGridM8(t *testing.T, withTLS bool, mod func(*mysql8test.Options)) (*mysql8test.Server, []byte) {
	t.Helper()
	var accounts []mysql8test.Account
	for _, m := range gridModes {
		accounts = append(accounts,
			mysql8test.Account{User: "c2_" + m.key, Password: gridSHA2Password, Plugin: mysql8test.PluginCachingSHA2},
			mysql8test.Account{User: "s256_" + m.key, Password: gridSHA256Password, Plugin: mysql8test.PluginSHA256},
			mysql8test.Account{User: "nat_" + m.key, Password: gridNativePassword, Plugin: mysql8test.PluginNative})
	}
	o := mysql8test.Options{Accounts: accounts}
	var caPEM []byte
	if withTLS {
		cfg, ca, err := mysql8test.GenerateTLS()
		if err != nil {
			t.Fatal(err)
		}
		o.TLS, o.CAPEM, caPEM = cfg, ca, ca
	}
	if mod != nil {
		mod(&o)
	}
	if o.CAPEM != nil {
		caPEM = o.CAPEM
	}
	return mysql8test.StartForTest(t, o), caPEM
}

// setupGrid starts the grid's peers and returns the configuration of its
// endpoints. writeFile stores a secret or CA in the test's directory.
func (e *env) setupGrid(t *testing.T, writeFile func(name, content string) string, m8CA string) string {
	t.Helper()
	pwFile := map[string]string{
		"c2": writeFile("grid-c2.pw", gridSHA2Password+"\n"), "s256": writeFile("grid-s256.pw", gridSHA256Password+"\n"),
		"nat": writeFile("grid-nat.pw", gridNativePassword+"\n"),
	}
	plugins := map[string]string{"c2": "caching_sha2_password", "s256": "sha256_password", "nat": "mysql_native_password"}
	tlsBlock := func(m gridMode, ca string) string {
		if m.mode == "verify-ca" || m.mode == "verify-identity" {
			return fmt.Sprintf("    tls: {mode: %s, ca: %s}\n", m.mode, ca)
		}
		return fmt.Sprintf("    tls: {mode: %s}\n", m.mode)
	}
	endpoint := func(host string, port int, user, db, auth, dial string, m gridMode, ca string) string {
		s := fmt.Sprintf("    host: %s\n    port: %d\n    user: %s\n    database: %s\n%s%s", host, port, user, db, auth, tlsBlock(m, ca))
		if dial != "" {
			s += "    dial: " + dial + "\n"
		}
		return s
	}
	// m8 is a behaviour on a grid MySQL-8 peer for one plugin.
	m8 := func(key, title string, s *mysql8test.Server, caPEM []byte, plugin, host, dial string) gridBehaviour {
		ca := writeFile("grid-"+key+"-ca.pem", string(caPEM))
		b := gridBehaviour{key: key, title: title, connects: 1, dial: dial,
			user: func(mode string) string { return plugin + "_" + mode }}
		if plugin == "c2" {
			b.connects, b.flush = 2, s
		}
		b.endpointYAML = func(m gridMode) string {
			auth := fmt.Sprintf("    auth: password\n    plugin: %s\n    password: {file: %s}\n", plugins[plugin], pwFile[plugin])
			return endpoint(host, s.Port, b.user(m.key), "app", auth, dial, m, ca)
		}
		return b
	}
	plain, plainCA := startGridM8(t, true, nil)
	rst, rstCA := startGridM8(t, true, func(o *mysql8test.Options) { o.RequireSecureTransport = true })
	proxy, proxyCA := startGridM8(t, true, func(o *mysql8test.Options) { o.ProxyRequiresTLS = true })
	noRSA, noRSACA := startGridM8(t, true, func(o *mysql8test.Options) { o.NoRSAKey = true })
	sha2TLS, sha2TLSCA := startGridM8(t, true, func(o *mysql8test.Options) { o.CachingSHA2OnlyOverTLS = true })
	noTLSPeer, _ := startGridM8(t, false, nil)
	// The tunnelled peer's certificate names only the database's name, not
	// the tunnel's address: a driver must check gridDBHost.
	dialTLS, dialCA, err := mysql8test.GenerateTLSFor([]string{gridDBHost}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dialPeer, _ := startGridM8(t, true, func(o *mysql8test.Options) { o.TLS, o.CAPEM = dialTLS, dialCA })
	dialFwd := forward.StartForTest(t, "127.0.0.1:0", dialPeer.Addr)
	mdbFwd := forward.StartForTest(t, "127.0.0.1:0", e.mdb.Addr)

	mdbNative := func(key, title, host, user, pwPath, dial string) gridBehaviour {
		return gridBehaviour{key: key, title: title, connects: 1, dial: dial,
			user: func(string) string { return user },
			endpointYAML: func(m gridMode) string {
				auth := fmt.Sprintf("    auth: password\n    password: {file: %s}\n", pwPath)
				return endpoint(host, e.mdb.Port, user, mariadbtest.Database, auth, dial, m, e.mdb.CAFile)
			}}
	}
	mdbPW := writeFile("grid-mdb-native.pw", mariadbtest.NativePassword+"\n")
	iam := func(key, title string, port int, user, db, ca string) gridBehaviour {
		return gridBehaviour{key: key, title: title, connects: 1, modes: verifyingModes,
			user: func(string) string { return user },
			endpointYAML: func(m gridMode) string {
				return endpoint("127.0.0.1", port, user, db, "    auth: iam\n    region: "+testbroker.Region+"\n", "", m, ca)
			}}
	}
	ed := mdbNative("mdb-ed25519", "MariaDB, client_ed25519", "127.0.0.1", mariadbtest.Ed25519User, writeFile("grid-mdb-ed.pw", mariadbtest.Ed25519Password+"\n"), "")
	ed.endpointYAML = func(m gridMode) string {
		auth := fmt.Sprintf("    auth: password\n    plugin: client_ed25519\n    password: {file: %s}\n", writeFile("grid-mdb-ed-"+m.key+".pw", mariadbtest.Ed25519Password+"\n"))
		return endpoint("127.0.0.1", e.mdb.Port, mariadbtest.Ed25519User, mariadbtest.Database, auth, "", m, e.mdb.CAFile)
	}
	noTLS := m8("m8-no-tls", "MySQL-8 peer without TLS, native", noTLSPeer, nil, "nat", "127.0.0.1", "")
	noTLS.endpointYAML = func(m gridMode) string {
		auth := fmt.Sprintf("    auth: password\n    plugin: mysql_native_password\n    password: {file: %s}\n", pwFile["nat"])
		return endpoint("127.0.0.1", noTLSPeer.Port, noTLS.user(m.key), "app", auth, "", m, m8CA)
	}
	e.grid = []gridBehaviour{
		m8("m8-c2", "MySQL-8 peer, caching_sha2", plain, plainCA, "c2", "127.0.0.1", ""),
		m8("m8-s256", "MySQL-8 peer, sha256_password", plain, plainCA, "s256", "127.0.0.1", ""),
		m8("m8-nat", "MySQL-8 peer, native", plain, plainCA, "nat", "127.0.0.1", ""),
		m8("rst-c2", "require_secure_transport (3159), caching_sha2", rst, rstCA, "c2", "127.0.0.1", ""),
		m8("rst-nat", "require_secure_transport (3159), native", rst, rstCA, "nat", "127.0.0.1", ""),
		m8("proxy-c2", "proxy requiring TLS (1105), caching_sha2", proxy, proxyCA, "c2", "127.0.0.1", ""),
		m8("proxy-nat", "proxy requiring TLS (1105), native", proxy, proxyCA, "nat", "127.0.0.1", ""),
		m8("norsa-c2", "no RSA key, caching_sha2", noRSA, noRSACA, "c2", "127.0.0.1", ""),
		m8("norsa-s256", "no RSA key, sha256_password", noRSA, noRSACA, "s256", "127.0.0.1", ""),
		m8("sha2tls-c2", "caching_sha2 only over TLS (no cache, no RSA)", sha2TLS, sha2TLSCA, "c2", "127.0.0.1", ""),
		noTLS,
		m8("dial-nat", "dial: tunnel to a peer whose certificate names only "+gridDBHost+", native", dialPeer, dialCA, "nat", gridDBHost, dialFwd.Addr),
		mdbNative("mdb-native", "MariaDB, native", "127.0.0.1", mariadbtest.NativeUser, mdbPW, ""),
		ed,
		mdbNative("mdb-require-ssl", "MariaDB, REQUIRE SSL account (1045 without TLS)", "127.0.0.1", mariadbtest.TLSUser, writeFile("grid-mdb-tls.pw", mariadbtest.TLSPassword+"\n"), ""),
		mdbNative("mdb-localhost", "MariaDB, host localhost", "localhost", mariadbtest.NativeUser, mdbPW, ""),
		mdbNative("mdb-dial", "MariaDB, host localhost, dial: tunnel", "localhost", mariadbtest.NativeUser, mdbPW, mdbFwd.Addr),
		iam("mdb-iam", "MariaDB PAM, IAM token", e.mdb.Port, mariadbtest.IAMUser, mariadbtest.Database, e.mdb.CAFile),
		iam("m8-iam", "RDS-Proxy-like peer, IAM token", e.m8.Port, "iam", "app", m8CA),
	}
	e.flush = map[string]*mysql8test.Server{}
	e.dials = map[string]string{}
	var cfg strings.Builder
	for i := range e.grid {
		b := &e.grid[i]
		for _, m := range gridModes {
			if b.modes != nil && !contains(b.modes, m.key) {
				continue
			}
			name := "g-" + b.key + "-" + m.key
			fmt.Fprintf(&cfg, "  %s:\n%s", name, b.endpointYAML(m))
			e.cells = append(e.cells, gridCell{b: b, mode: m, k: kind{key: name, title: b.title + ", " + m.mode, endpoint: name, connects: b.connects}})
			if b.flush != nil {
				e.flush[name] = b.flush
			}
			if b.dial != "" {
				e.dials[name] = b.dial
			}
		}
	}
	return cfg.String()
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// gridResult is one driver's cell: the prediction and the real outcome.
type gridResult struct {
	pred prediction
	real result
}

// runGrid runs every cell for every runnable driver (one runner process
// per driver) and returns the grid section of docs/COMPATIBILITY.md and
// how many cells ran.
func (e *env) runGrid(t *testing.T) (string, int) {
	t.Helper()
	ks := make([]kind, len(e.cells))
	for i, c := range e.cells {
		ks[i] = c.k
	}
	res := map[string][]gridResult{} // driver -> per cell
	ran, mismatches := 0, 0
	var predTime, realTime time.Duration
	for _, d := range rows {
		if d.runner == "absent" {
			continue
		}
		start := time.Now()
		preds := make([]prediction, len(ks))
		for i, k := range ks {
			preds[i] = e.predictKind(t, d.name, k, "")
		}
		predTime += time.Since(start)
		for _, s := range e.flush {
			s.InvalidateCache()
		}
		start = time.Now()
		_, out := e.runKinds(t, d, ks)
		realTime += time.Since(start)
		t.Logf("grid %s: %d cells, real drivers %v", d.name, len(ks), time.Since(start).Round(time.Millisecond))
		for i, c := range e.cells {
			p, r := preds[i], out[i]
			if !r.OK && strings.Contains(r.Error, helperRefusal) {
				// The driver went on without TLS and the connbroker helper
				// refused the connection afterwards: the driver logged in.
				r.OK, r.User = true, c.b.user(c.mode.key)+"@ (refused by the helper)"
			}
			ran++
			if p.ok != r.OK {
				mismatches++
				t.Errorf("grid %s/%s: the profile predicts %s, the real driver ok=%t (%s)", d.name, c.k.key, p.what, r.OK, r.Error)
			} else if r.OK && !strings.HasPrefix(r.User, c.b.user(c.mode.key)+"@") {
				t.Errorf("grid %s/%s: CURRENT_USER() = %q, want %s@...", d.name, c.k.key, r.User, c.b.user(c.mode.key))
			}
			if !r.OK {
				t.Logf("grid %s/%s: predicted %s; real: %s", d.name, c.k.key, p.what, r.Error)
			}
			res[d.name] = append(res[d.name], gridResult{p, r})
		}
	}
	t.Logf("grid: %d cells, %d disagreements; prober %v, real drivers %v", ran, mismatches, predTime.Round(time.Millisecond), realTime.Round(time.Millisecond))
	return e.gridDoc(res, ran, mismatches), ran
}

// gridDoc renders the grid: one table per behaviour, a row per driver, a
// column per TLS mode.
func (e *env) gridDoc(res map[string][]gridResult, ran, mismatches int) string {
	var b strings.Builder
	b.WriteString("\n## Differential matrix: server behaviours × TLS modes\n\n")
	fmt.Fprintf(&b, "**%d cells ran, %d disagreements.** Each cell is one driver, one account kind on one server behaviour, one TLS\n", ran, mismatches)
	b.WriteString("mode of the endpoint. The real driver connects set up only by `GetConnectionParams` (one runner process per\n")
	b.WriteString("driver for all its cells); before it the prober plays the registry's profile (`broker/driver`, derived from the\n")
	b.WriteString("same hints) against the same server, connecting where the driver does (`dial` when set). The test fails when\n")
	b.WriteString("they disagree. *login*: both logged in; *fails: ...*: both failed, with the prober's reason. caching_sha2 cells\n")
	b.WriteString("connect twice from an empty cache (full, then fast authentication). A failing cell is not a defect: it is a\n")
	b.WriteString("server that refuses the driver as configured, and the prediction says so before the driver runs.\n\n")
	b.WriteString("Cells left out, and why:\n\n")
	b.WriteString("- mysql-cli: Oracle's mysql client cannot run on Debian 12 (see above); its profile is checked only through\n  the libmysqlclient gate.\n")
	b.WriteString("- IAM accounts with `disabled`, `preferred` or `required`: the configuration refuses them (an IAM token\n  must go only to a verified server), so no hints exist for them.\n")
	b.WriteString("- Server behaviours are not crossed with every account kind: each behaviour runs the kinds it changes\n")
	b.WriteString("  (RSA and TLS requirements matter for caching_sha2 and sha256_password; REQUIRE SSL, localhost and a\n")
	b.WriteString("  tunnel are about transport, so one native account each). Every kind runs on the plain peers.\n\n")
	b.WriteString("Peers: a MySQL-8 peer per behaviour (`mysql8test.Options`: none, `RequireSecureTransport`, `ProxyRequiresTLS`,\n")
	b.WriteString("`NoRSAKey`, `CachingSHA2OnlyOverTLS`, no TLS at all, and one behind `internal/testpeer/forward` whose certificate\n")
	fmt.Fprintf(&b, "names only %s), and the MariaDB peer (an account with `REQUIRE SSL`; host `localhost`; a tunnel).\n", gridDBHost)
	b.WriteString("TLS verification uses each peer's private CA file (`tls.ca`), never the system store.\n")
	header := "| driver |"
	sep := "|---|"
	for _, m := range gridModes {
		header += " " + m.mode + " |"
		sep += "---|"
	}
	i := 0
	for bi := range e.grid {
		bh := &e.grid[bi]
		var idx []int
		for j := i; j < len(e.cells) && e.cells[j].b == bh; j++ {
			idx = append(idx, j)
		}
		i += len(idx)
		fmt.Fprintf(&b, "\n### %s\n\n%s\n%s\n", bh.title, header, sep)
		for _, d := range rows {
			rs, ok := res[d.name]
			if !ok {
				continue
			}
			cells := map[string]string{}
			for _, j := range idx {
				r := rs[j]
				switch {
				case r.pred.ok != r.real.OK:
					cells[e.cells[j].mode.key] = fmt.Sprintf("**MISMATCH** (predicted %s, real ok=%t)", r.pred.what, r.real.OK)
				case r.pred.ok:
					cells[e.cells[j].mode.key] = "login"
				default:
					cells[e.cells[j].mode.key] = "fails: " + r.pred.what
				}
			}
			fmt.Fprintf(&b, "| %s |", d.name)
			for _, m := range gridModes {
				c, ok := cells[m.key]
				if !ok {
					c = "—"
				}
				b.WriteString(" " + c + " |")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
