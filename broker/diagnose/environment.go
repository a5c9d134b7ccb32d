package diagnose

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// Environment finding codes, stable: they explain why a driver fails in one
// application's own process (its versions, packages, environment).
const (
	// CodeRSAPackageMissing: PyMySQL/aiomysql without cryptography cannot
	// do the RSA step of caching_sha2/sha256 full authentication without
	// TLS.
	CodeRSAPackageMissing = "rsa-package-missing"
	// CodePyMySQLAuthSwitchBug: PyMySQL < 1.1.2 keeps the NUL of the salt
	// of an AuthSwitch to caching_sha2_password, so its fast-auth scramble
	// never matches and the server (MySQL, go-mysql) falls back to full
	// authentication on every login.
	CodePyMySQLAuthSwitchBug = "pymysql-authswitch-fast-auth-bug"
	// CodeClearTextEnvMissing: mysqlclient linked against Oracle's
	// libmysqlclient needs LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN before the
	// process's first connection.
	CodeClearTextEnvMissing = "cleartext-env-missing"
	// CodeClearTextDriverNeedsTLS: the driver refuses mysql_clear_password
	// on a connection without TLS (mysql-connector-python pure).
	CodeClearTextDriverNeedsTLS = "cleartext-driver-requires-tls"
	// CodeFullAuthNeedsTLS: the driver cannot do caching_sha2/sha256 full
	// authentication without TLS at all (no RSA in it).
	CodeFullAuthNeedsTLS = "full-auth-driver-requires-tls"
	// CodeClientPluginMissing: the client library loads the auth plugin
	// the login needs from a file that is not in its plugin directory.
	CodeClientPluginMissing = "client-plugin-missing"
	// CodeCExtensionUnavailable: the driver's C extension, which the
	// application's options ask for, does not load.
	CodeCExtensionUnavailable = "c-extension-unavailable"
	// CodeClockSkew: the application's clock is far from the broker's.
	CodeClockSkew = "client-clock-skew"
	// CodeDriverNotInstalled: the application's driver is not importable.
	CodeDriverNotInstalled = "driver-not-installed"
)

// EnvironmentCatalogue lists the codes EnvironmentPredict emits.
var EnvironmentCatalogue = []Entry{
	{CodeRSAPackageMissing, SeverityError, "the driver lacks the package for the RSA step of full authentication without TLS"},
	{CodePyMySQLAuthSwitchBug, SeverityError, "PyMySQL < 1.1.2 computes a wrong fast-auth scramble after an AuthSwitch to caching_sha2_password, so every login takes full authentication"},
	{CodeClearTextEnvMissing, SeverityError, "libmysqlclient needs LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN for mysql_clear_password"},
	{CodeClearTextDriverNeedsTLS, SeverityError, "the driver sends mysql_clear_password only over TLS"},
	{CodeFullAuthNeedsTLS, SeverityError, "the driver cannot do full authentication without TLS"},
	{CodeClientPluginMissing, SeverityError, "the client library's plugin directory lacks the auth plugin the login needs"},
	{CodeCExtensionUnavailable, SeverityError, "the driver's C extension does not load and the options ask for it"},
	{CodeClockSkew, SeverityWarning, "the application's clock differs from the broker's"},
	{CodeDriverNotInstalled, SeverityError, "the application's driver is not importable in its process"},
}

// MaxClientClockOffset is the clock offset above which CodeClockSkew is
// reported: expires_at and refresh_after are the broker's times, and TLS
// certificates are checked against the client's clock.
const MaxClientClockOffset = time.Minute

// ClientPackage is one package importable in the application's process.
type ClientPackage struct {
	// Name is the distribution name, e.g. "PyMySQL".
	Name string
	// Version is the installed version.
	Version string
	// ClientLibrary is the native library a driver is linked against, e.g.
	// "MariaDB Connector/C 3.3.14".
	ClientLibrary string
	// CExtension is true when the driver's C extension is importable.
	CExtension bool
	// PluginDir is where the client library loads dynamic auth plugins
	// from; empty when unknown.
	PluginDir string
	// ClientPlugins are the plugin files found in PluginDir.
	ClientPlugins []string
}

// ClientEnvironment is what matters for MySQL authentication in one
// application process.
type ClientEnvironment struct {
	// Driver is the application's driver (a hints name); empty means the
	// first installed.
	Driver string
	// Packages are the importable packages that matter.
	Packages []ClientPackage
	// Env holds the relevant environment variables that are set.
	Env map[string]string
	// CABundle is the default CA file of the process.
	CABundle string
	// ClientTime is the client's clock when it sent the request.
	ClientTime time.Time
	// Runtime names the language runtime.
	Runtime string
}

// Package returns the named package (case-insensitive).
func (e ClientEnvironment) Package(name string) (ClientPackage, bool) {
	for _, p := range e.Packages {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return ClientPackage{}, false
}

// EnvCase is one installed driver of a ClientEnvironment.
type EnvCase struct {
	DriverCase
	// Key is the hints driver name, e.g. "pymysql".
	Key string
	// Version is the installed driver version.
	Version string
	// Broken, when set, is why the driver cannot even start a login in this
	// environment; the handshake is still played for the other facts.
	Broken *Finding
}

// EnvPrediction is how one installed driver fares, with the findings that
// explain it for this environment.
type EnvPrediction struct {
	Prediction
	// Key is the hints driver name.
	Key string
	// Version is the installed driver version.
	Version string
}

// EnvironmentReport is the prediction for one application process.
type EnvironmentReport struct {
	// Driver is the application's driver (a hints name).
	Driver string
	// Drivers are the predictions, the application's driver first.
	Drivers []EnvPrediction
	// ClockOffset is the broker's clock minus the client's.
	ClockOffset time.Duration
	// Findings are about the environment as a whole.
	Findings []Finding
}

// envDrivers are the descriptors the doctor looks for in an application's
// process, in the order an application's driver is guessed
// (driver.EnvRules.GuessOrder).
func envDrivers() []*driver.Descriptor {
	var out []*driver.Descriptor
	for _, d := range driver.All() {
		if d.Env.GuessOrder > 0 && d.Env.Package != "" {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *driver.Descriptor) int { return a.Env.GuessOrder - b.Env.GuessOrder })
	return out
}

// canonicalEnvDriver maps the names an application may give (any name or
// alias broker/driver knows, SQLAlchemy dialects included) to the
// canonical name of the driver whose handshake it plays; an unknown name
// is returned trimmed and lowercased (reported as not installed).
func canonicalEnvDriver(name string) string {
	if strings.TrimSpace(name) == "" {
		return ""
	}
	d, err := driver.For(name)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(name))
	}
	return d.Base().Name
}

// EnvironmentCases returns one case per driver installed in env, the
// application's driver first, and the application's driver key. Each case
// plays the driver as the broker's hints for in set it up (in is the
// endpoint's hints input), in this environment (its packages, versions,
// client library and environment variables). When the application's driver
// is not installed, missing is a driver-not-installed finding and the cases
// are the other installed drivers.
func EnvironmentCases(env ClientEnvironment, in hints.Input) (cases []EnvCase, app string, missing *Finding) {
	app = canonicalEnvDriver(env.Driver)
	_, crypto := env.Package("cryptography")
	_, nacl := env.Package("PyNaCl")
	vars := env.Env
	if vars == nil {
		vars = map[string]string{}
	}
	facts := func(p ClientPackage) driver.Facts {
		return driver.Facts{Version: p.Version, Cryptography: crypto, PyNaCl: nacl, Vars: vars,
			MariaDBConnC: strings.Contains(strings.ToLower(p.ClientLibrary), "mariadb"), ClientLibrary: p.ClientLibrary, CExtension: p.CExtension}
	}
	play := func(d *driver.Descriptor, p ClientPackage) EnvCase {
		f := facts(p)
		c := EnvCase{Key: d.Name, Version: p.Version, DriverCase: DriverCase{Key: d.Name, Driver: d.DisplayName, Options: d.EnvLabel(f), Profile: d.Profile(d.Render(in), f)}}
		if f.MariaDBConnC && p.PluginDir != "" {
			connCDynamicPlugins(&c.Profile, p)
		}
		return c
	}
	pure, _ := driver.For("mysql-connector-python-pure")
	for _, d := range envDrivers() {
		p, ok := env.Package(d.Env.Package)
		if !ok {
			continue
		}
		// mysql-connector-python's one package is two drivers: without a C
		// extension that loads (or when the application asks for it), the
		// pure one.
		if d.Env.Package == pure.Env.Package && (!p.CExtension || app == pure.Name) {
			d = pure
		}
		cases = append(cases, play(d, p))
	}
	if app == "" && len(cases) > 0 {
		app = cases[0].Key
	}
	if cext, _ := driver.For("mysql-connector-python"); app == cext.Name {
		if p, ok := env.Package(cext.Env.Package); ok && !p.CExtension {
			// The app asks for the C extension (the broker's hints pass
			// use_pure=False), which does not load in this process.
			c := play(cext, p)
			c.Broken = &Finding{Code: CodeCExtensionUnavailable, Severity: SeverityError,
				Cause: fmt.Sprintf("mysql-connector-python %s's C extension does not load in this process, and use_pure=False (the default when it is installed, and the broker's hints for mysql-connector-python) fails with ImportError \"C Extension not available\"", p.Version),
				Fix:   "import mysql.connector before anything imports ssl, or install a wheel whose C extension loads with the system OpenSSL; or connect with use_pure=True (driver mysql-connector-python-pure)"}
			cases = append(cases, c)
		}
	}
	i := slices.IndexFunc(cases, func(c EnvCase) bool { return c.Key == app })
	if i < 0 {
		installed := make([]string, len(cases))
		for j, c := range cases {
			installed[j] = c.Key
		}
		fix := "install it in the application's environment, e.g. pip install " + strconv.Quote(driverPackage(app))
		return cases, app, &Finding{Code: CodeDriverNotInstalled, Severity: SeverityError,
			Cause: fmt.Sprintf("the driver %q is not importable in this process (installed: %s)", app, orDefault(strings.Join(installed, ", "), "none")), Fix: fix}
	}
	c := cases[i]
	cases = append(append([]EnvCase{c}, cases[:i]...), cases[i+1:]...)
	return cases, app, nil
}

// connCDynamicPlugins removes from a MariaDB Connector/C profile the
// dynamic auth plugins (Debian's libmariadb3 builds these as .so files)
// that are not in the package's plugin directory.
func connCDynamicPlugins(pr *handshake.Profile, p ClientPackage) {
	if pr.PluginNeeds == nil {
		pr.PluginNeeds = map[string]string{}
	}
	for _, plugin := range []string{handshake.PluginClearPassword, handshake.PluginEd25519, handshake.PluginCachingSHA2, handshake.PluginSHA256} {
		if slices.Contains(p.ClientPlugins, plugin) {
			continue
		}
		pr.Plugins = slices.DeleteFunc(pr.Plugins, func(s string) bool { return s == plugin })
		pr.PluginNeeds[plugin] = fmt.Sprintf("%s.so is not in the client plugin directory %s: install the distribution's MariaDB Connector/C plugins (Debian: libmariadb3) or point MARIADB_PLUGIN_DIR at a directory that has them", plugin, p.PluginDir)
	}
}

// driverPackage is the package that provides the driver named key.
func driverPackage(key string) string {
	if d, err := driver.For(key); err == nil && d.Base().Env.Package != "" {
		return d.Base().Env.Package
	}
	return key
}

// EnvironmentPredict plays each installed driver of env against base (as
// Compare does) and rewrites the outcome and finding where the
// environment decides it: a missing package, an old version with a known
// bug, a missing environment variable. receivedAt is when the broker got
// the request (for the clock offset); hin is the endpoint's hints input.
func EnvironmentPredict(ctx context.Context, p *handshake.Probe, base handshake.Target, in Input, env ClientEnvironment, hin hints.Input, receivedAt time.Time) EnvironmentReport {
	cases, app, missing := EnvironmentCases(env, hin)
	rep := EnvironmentReport{Driver: app}
	if !env.ClientTime.IsZero() {
		rep.ClockOffset = receivedAt.Sub(env.ClientTime)
		if rep.ClockOffset > MaxClientClockOffset || rep.ClockOffset < -MaxClientClockOffset {
			rep.Findings = append(rep.Findings, Finding{Code: CodeClockSkew, Severity: SeverityWarning,
				Cause: fmt.Sprintf("the application's clock is %s behind the broker's: credential expiry and refresh times are the broker's, and TLS certificates are checked against the local clock", rep.ClockOffset.Round(time.Second)),
				Fix:   "synchronise the clock (chrony/NTP, or the platform's time sync)"})
		}
	}
	if missing != nil {
		rep.Findings = append(rep.Findings, *missing)
	}
	dc := make([]DriverCase, len(cases))
	for i, c := range cases {
		dc[i] = c.DriverCase
	}
	for i, pr := range Compare(ctx, p, base, in, dc) {
		ep := EnvPrediction{Prediction: pr, Key: cases[i].Key, Version: cases[i].Version}
		if c := cases[i]; c.Key == "pymysql" && versionLess(c.Version, "1.1.2") && pr.Transcript != nil && switchedTo(pr.Transcript, handshake.PluginCachingSHA2) {
			rep.Findings = append(rep.Findings, Finding{Code: CodePyMySQLAuthSwitchBug, Severity: SeverityWarning,
				Cause: fmt.Sprintf("PyMySQL %s never takes the caching_sha2 fast path after the server's AuthSwitch (the salt keeps its NUL byte): every login pays full authentication (RSA round trips without TLS)", c.Version),
				Fix:   `pip install "PyMySQL>=1.1.2"`})
		}
		if f := environmentRule(cases[i], pr); f != nil {
			ep.Works, ep.Finding = false, f
		}
		rep.Drivers = append(rep.Drivers, ep)
	}
	return rep
}

// environmentRule returns the finding that decides the case in this
// environment, nil when the played handshake stands as it is.
func environmentRule(c EnvCase, pr Prediction) *Finding {
	if c.Broken != nil {
		return c.Broken
	}
	tr := pr.Transcript
	sha2 := pr.Plugin == handshake.PluginCachingSHA2 || pr.Plugin == handshake.PluginSHA256
	switch c.Key {
	case "pymysql", "aiomysql":
		if c.Key == "pymysql" && versionLess(c.Version, "1.1.2") && tr != nil && switchedTo(tr, handshake.PluginCachingSHA2) &&
			!pr.TLS && c.Profile.RSA == handshake.RSAUnavailable {
			return &Finding{Code: CodePyMySQLAuthSwitchBug, Severity: SeverityError,
				Cause: fmt.Sprintf("the server switched the login to caching_sha2_password (AuthSwitch) and PyMySQL %s keeps the NUL byte of the switch's salt, so its fast-auth scramble never matches: the server falls back to full authentication on every login, which without TLS needs the RSA step, and this environment has no cryptography package, so every login fails (not only after a server restart)", c.Version),
				Fix:   `pip install "PyMySQL[rsa]>=1.1.2"`}
		}
		if sha2 && !pr.TLS && c.Profile.RSA == handshake.RSAUnavailable {
			pkg := "PyMySQL[rsa]"
			if c.Key == "aiomysql" {
				pkg = "aiomysql[rsa]"
			}
			return &Finding{Code: CodeRSAPackageMissing, Severity: SeverityError,
				Cause: fmt.Sprintf("the account uses %s on a connection without TLS, and %s %s without the cryptography package cannot RSA-encrypt the password: every full authentication (first login after a server restart, FLUSH PRIVILEGES or a password change) fails with \"'cryptography' package is required\"", pr.Plugin, c.Driver, c.Version),
				Fix:   fmt.Sprintf("pip install %q (or use TLS for this endpoint)", pkg)}
		}
	case "mysqlclient":
		if stopped(pr, handshake.StopPluginDependencyMissing) {
			stop := tr.Outcome.Stop
			return &Finding{Code: CodeClientPluginMissing, Severity: SeverityError,
				Cause: fmt.Sprintf("the login needs %s, which MariaDB Connector/C loads from a plugin file, and this process's plugin directory does not have it", stop.Plugin),
				Fix:   c.Profile.PluginNeeds[stop.Plugin]}
		}
		if stopped(pr, handshake.StopClearTextOptInMissing) {
			return &Finding{Code: CodeClearTextEnvMissing, Severity: SeverityError,
				Cause: fmt.Sprintf("mysqlclient %s is linked against Oracle's libmysqlclient, which refuses mysql_clear_password (error 2059 \"plugin not enabled\") unless LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN is set when the library initialises; auth_plugin= does not enable it", c.Version),
				Fix:   "set LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1 in the process environment before its first MySQL connection (in the container/unit environment, not later in code)"}
		}
	case "mysql-connector-python-pure":
		if stopped(pr, handshake.StopClearTextWithoutTLS) {
			return &Finding{Code: CodeClearTextDriverNeedsTLS, Severity: SeverityError,
				Cause: fmt.Sprintf("the server asks for mysql_clear_password on a connection without TLS, and pure-Python mysql-connector-python %s refuses to send it (\"mysql_clear_password requires SSL\")", c.Version),
				Fix:   "enable TLS on the server and for this endpoint (tls.mode: verify-identity): a clear-text password or token must not travel unencrypted anyway"}
		}
		if sha2 && !pr.TLS {
			return &Finding{Code: CodeFullAuthNeedsTLS, Severity: SeverityError,
				Cause: fmt.Sprintf("pure-Python mysql-connector-python %s has no RSA: %s full authentication without TLS (every sha256_password login; a caching_sha2_password login after a server restart, FLUSH PRIVILEGES or a password change) fails", c.Version, pr.Plugin),
				Fix:   "enable TLS for this endpoint, or install a mysql-connector-python wheel whose C extension loads"}
		}
	}
	return nil
}

// stopped reports whether the played driver stopped for code.
func stopped(pr Prediction, code string) bool {
	tr := pr.Transcript
	return pr.Result == handshake.ResultStopped && tr != nil && tr.Outcome.Stop != nil && tr.Outcome.Stop.Code == code
}

// switchedTo reports whether the server sent an AuthSwitch to plugin.
func switchedTo(tr *handshake.Transcript, plugin string) bool {
	for _, e := range tr.Events {
		if e.Kind == handshake.KindAuthSwitchRequest && e.Fields["plugin"] == plugin {
			return true
		}
	}
	return false
}

// envTruthy is libmysqlclient's test: the first character is 1, Y or y.
func envTruthy(v string) bool { return v != "" && strings.ContainsRune("1Yy", rune(v[0])) }

// versionLess compares dotted versions numerically (driver.VersionLess).
func versionLess(a, b string) bool { return driver.VersionLess(a, b) }
