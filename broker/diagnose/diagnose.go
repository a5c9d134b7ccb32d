// Package diagnose turns a login attempt (the handshake prober's transcript
// and error, the endpoint and, for IAM, the token's claims) into findings:
// a stable code, the cause in plain words and the fix. It also predicts, side
// by side, how each driver profile would fare against an endpoint
// (Compare), which answers "why does the CLI work and PyMySQL not".
//
// Every code in Catalogue is reproduced against a real peer in this
// package's tests.
package diagnose

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/rdshost"
)

// Severity says how bad a finding is.
type Severity string

// Severities.
const (
	// SeverityError explains why the login failed (or would fail).
	SeverityError Severity = "error"
	// SeverityWarning is a risk that did not stop this login.
	SeverityWarning Severity = "warning"
	// SeverityInfo is worth knowing (e.g. a slower auth path was taken).
	SeverityInfo Severity = "info"
)

// Finding codes, stable: tools may match on them.
const (
	CodeStaticPasswordToIAM = "static-password-to-iam-account"
	CodeClearTextWithoutTLS = "cleartext-without-tls"
	CodeClearTextOptIn      = "cleartext-optin-missing"
	CodeRSAKeyNeeded        = "rsa-public-key-needed"
	CodeTokenExpired        = "token-expired"
	CodeTokenClockSkew      = "token-clock-skew"
	CodeTokenWrongHost      = "token-wrong-host"
	CodeTokenWrongRegion    = "token-wrong-region"
	CodeWrongUser           = "wrong-user"
	CodeAccessDenied        = "access-denied"
	CodeServerRequiresTLS   = "server-requires-tls"
	CodeServerHasNoRSA      = "server-has-no-rsa"
	CodeCachingSHA2OnlyTLS  = "caching-sha2-only-over-tls"
	CodeUnixSocketUsed      = "unix-socket-used"
	CodeServerLacksTLS      = "server-lacks-tls"
	CodeCAMismatch          = "ca-does-not-verify"
	CodeTLSHandshake        = "tls-handshake-failed"
	CodeFastAuthCacheMiss   = "fast-auth-cache-miss"
	CodePluginUnsupported   = "plugin-unsupported"
	CodeDNSFailure          = "dns-failure"
	CodeConnectionRefused   = "connection-refused"
	CodeConnectTimeout      = "connect-timeout"
	CodeGreetingTimeout     = "greeting-timeout"
	CodeClosedMidHandshake  = "closed-mid-handshake"
	CodeNotMySQL            = "not-mysql"
	CodeServerError         = "server-error"
	// CodeSecretWithoutVerifiedTLS: the replayed driver would send the
	// secret (in clear, or RSA-encrypted to a key the server handed out)
	// without verified TLS; the prober stopped there and did not send it.
	CodeSecretWithoutVerifiedTLS = "secret-without-verified-tls"
	// AWS API findings (Input.AWS, Input.Simulation): what the RDS control
	// plane says, read through package awsapi.
	CodeIAMAuthDisabled        = "iam-auth-disabled"
	CodeProxyRequiresIAM       = "proxy-requires-iam"
	CodeProxyClientAuthType    = "proxy-client-auth-type"
	CodeProxyRequiresTLS       = "proxy-requires-tls"
	CodeProxyTargetUnhealthy   = "proxy-target-unhealthy"
	CodeIAMPolicyDeniesConnect = "iam-policy-denies-connect"
	CodeResourceIDMismatch     = "resource-id-mismatch"
	CodeAWSEvidenceUnavailable = "aws-evidence-unavailable"
)

// Entry documents one finding code.
type Entry struct {
	// Code is the stable code.
	Code string
	// Severity is the usual severity.
	Severity Severity
	// Title names the problem in a few words.
	Title string
}

// Catalogue lists every code this package emits.
var Catalogue = []Entry{
	{CodeStaticPasswordToIAM, SeverityError, "a static password was sent to an account that authenticates with IAM (clear text)"},
	{CodeClearTextWithoutTLS, SeverityError, "clear-text password requested on a connection without TLS"},
	{CodeClearTextOptIn, SeverityError, "the driver needs an explicit opt-in for mysql_clear_password"},
	{CodeRSAKeyNeeded, SeverityError, "full authentication without TLS needs the server's RSA public key"},
	{CodeTokenExpired, SeverityError, "the IAM token has expired"},
	{CodeTokenClockSkew, SeverityError, "the IAM token was signed in the future (clock skew)"},
	{CodeTokenWrongHost, SeverityError, "the IAM token was signed for another host or port"},
	{CodeTokenWrongRegion, SeverityError, "the IAM token was signed for another region"},
	{CodeWrongUser, SeverityError, "the login names another user than the credential is for"},
	{CodeAccessDenied, SeverityError, "the server denied access"},
	{CodeServerRequiresTLS, SeverityError, "the server (or the account) requires TLS and the login did not use it"},
	{CodeServerHasNoRSA, SeverityError, "the server has no RSA key: caching_sha2_password full authentication over plain TCP is impossible"},
	{CodeCachingSHA2OnlyTLS, SeverityError, "the server does caching_sha2_password full authentication only over TLS"},
	{CodeUnixSocketUsed, SeverityError, "the driver used the local Unix socket instead of TCP for host localhost"},
	{CodeServerLacksTLS, SeverityError, "TLS is required but the server does not offer it"},
	{CodeCAMismatch, SeverityError, "the CA does not verify the server's certificate"},
	{CodeTLSHandshake, SeverityError, "the TLS handshake failed"},
	{CodeFastAuthCacheMiss, SeverityInfo, "caching_sha2_password fast-auth cache miss: full authentication was needed"},
	{CodePluginUnsupported, SeverityError, "the driver cannot run the account's auth plugin"},
	{CodeDNSFailure, SeverityError, "the host name does not resolve"},
	{CodeConnectionRefused, SeverityError, "nothing listens on the port (connection refused)"},
	{CodeConnectTimeout, SeverityError, "the TCP connection timed out"},
	{CodeGreetingTimeout, SeverityError, "connected, but no greeting arrived in time"},
	{CodeClosedMidHandshake, SeverityError, "the server closed the connection during the handshake"},
	{CodeNotMySQL, SeverityError, "the peer does not speak the MySQL protocol"},
	{CodeServerError, SeverityError, "the server refused the login"},
	{CodeSecretWithoutVerifiedTLS, SeverityError, "the driver would send the secret without verified TLS (the replay withheld it)"},
	{CodeIAMAuthDisabled, SeverityError, "IAM database authentication is disabled on the RDS instance or cluster"},
	{CodeProxyRequiresIAM, SeverityError, "a static password was sent to an RDS Proxy whose IAMAuth is REQUIRED"},
	{CodeProxyClientAuthType, SeverityError, "the RDS Proxy asks clients for another plugin than the endpoint assumes (ClientPasswordAuthType)"},
	{CodeProxyRequiresTLS, SeverityError, "the RDS Proxy requires TLS (RequireTLS) and the login did not use it"},
	{CodeProxyTargetUnhealthy, SeverityError, "the RDS Proxy has no healthy target"},
	{CodeIAMPolicyDeniesConnect, SeverityError, "the IAM policy does not allow rds-db:connect for this database user"},
	{CodeResourceIDMismatch, SeverityError, "the IAM policy names another resource id than the database's"},
	{CodeAWSEvidenceUnavailable, SeverityWarning, "the AWS API did not answer (throttled, denied or unreachable): no AWS evidence"},
}

// Finding is one diagnosed fact.
type Finding struct {
	// Code is a stable code from Catalogue.
	Code string
	// Severity says how bad it is.
	Severity Severity
	// Cause explains it in plain words.
	Cause string
	// Fix says what to do.
	Fix string
}

// Input is one login attempt to diagnose.
type Input struct {
	// Transcript is the prober's transcript; nil when the prober did not
	// run (then only Login and Client are explained).
	Transcript *handshake.Transcript
	// Err is the prober's error, nil on success.
	Err error
	// Host and Port are the endpoint as configured.
	Host string
	Port int
	// IAM says the secret sent was an IAM token.
	IAM bool
	// Region is the region the endpoint is in (configured or parsed), if
	// known.
	Region string
	// Token holds the claims of the IAM token sent, nil if none.
	Token *TokenClaims
	// CustomCA is true when the TLS CA is a file, false for the system
	// store.
	CustomCA bool
	// AccountPlugin is mysql.user.plugin of the login user, read through a
	// diagnostic account; empty when unknown.
	AccountPlugin string
	// AccountMissing is true when the diagnostic account found no such
	// user in mysql.user.
	AccountMissing bool
	// Login is the real driver's outcome of the same login (broker/validate
	// with go-sql-driver), nil when there was none. Its findings come after
	// the transcript's and only add what the transcript does not explain.
	Login *Login
	// Client is an error a client driver reported for this endpoint (e.g.
	// mysqlclient's 2002), nil when none.
	Client *ClientError
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Plugin is the plugin the endpoint assumes (its plugin: setting);
	// empty when not set.
	Plugin string
	// TLSRequired says the endpoint's TLS mode refuses plain TCP.
	TLSRequired bool
	// AWS is what the RDS control plane says about the endpoint's
	// address; nil when the AWS API source is off for it.
	AWS *awsapi.Facts
	// Simulation is IAM's answer for rds-db:connect as the login user;
	// nil when not asked.
	Simulation *awsapi.Simulation
}

// Login is what the real driver saw of a login.
type Login struct {
	// Stage is the stage that failed: dial, tls, auth or query; empty when
	// the login worked.
	Stage string
	// Err is the driver's error with its types intact
	// (*mysql.MySQLError, mysql.ErrCleartextPassword, mysql.ErrNoTLS, x509
	// and tls errors, *net.OpError, ...); nil when the login worked.
	Err error
}

// ClientError is an error number and message a MySQL client library
// reported, e.g. mysqlclient's OperationalError(2002, "Can't connect to
// local server through socket '/run/mysqld/mysqld.sock' (2)") or the CLI's
// "ERROR 2002 (HY000): ...".
type ClientError struct {
	// Driver names the client, e.g. "mysqlclient" or "mariadb CLI".
	Driver string
	// Number is the client error number (2000-2999) or a server error.
	Number int
	// Message is the library's message.
	Message string
}

// Client error numbers (libmysqlclient and MariaDB Connector/C, errmsg.h).
const (
	// CRConnectionError is CR_CONNECTION_ERROR: the connection to the local
	// server through a Unix socket (or a named pipe) failed. A TCP failure
	// is CR_CONN_HOST_ERROR (2003) instead.
	CRConnectionError = 2002
	// CRConnHostError is CR_CONN_HOST_ERROR: a TCP connection failed.
	CRConnHostError = 2003
)

// cliErrorLine matches the mysql and mariadb CLIs' error line.
var cliErrorLine = regexp.MustCompile(`\bERROR (\d{4}) \(([0-9A-Z]{5})\)(?: at line \d+)?: ([^\n]*)`)

// ParseCLIError reads the first "ERROR NNNN (SQLSTATE): message" line of a
// mysql or mariadb CLI's output (the CLIs have no other way to report it).
func ParseCLIError(driver, output string) (ClientError, bool) {
	m := cliErrorLine.FindStringSubmatch(output)
	if m == nil {
		return ClientError{}, false
	}
	n, _ := strconv.Atoi(m[1])
	return ClientError{Driver: driver, Number: n, Message: strings.TrimSpace(m[3])}, true
}

// Primary returns the finding that explains the outcome: the first error,
// else the first warning, else the first finding; false when fs is empty.
func Primary(fs []Finding) (Finding, bool) {
	for _, sev := range []Severity{SeverityError, SeverityWarning} {
		for _, f := range fs {
			if f.Severity == sev {
				return f, true
			}
		}
	}
	if len(fs) > 0 {
		return fs[0], true
	}
	return Finding{}, false
}

// Verdict is the one-line explanation of a failed login: the primary
// finding's code, cause and fix ("" when there are no findings). The
// validate and diagnose commands show it, so it never contradicts the
// findings listed below it.
func Verdict(fs []Finding) string {
	f, ok := Primary(fs)
	if !ok {
		return ""
	}
	return f.Code + ": " + f.Cause + "; fix: " + f.Fix
}

// MaxSkew is the clock difference RDS tolerates before a token counts as
// signed in the future.
const MaxSkew = 5 * time.Minute

// Diagnose returns the findings for in, errors first, in a stable order.
func Diagnose(in Input) []Finding {
	now := time.Now
	if in.Now != nil {
		now = in.Now
	}
	var out []Finding
	add := func(code string, sev Severity, cause, fix string) {
		for _, f := range out {
			if f.Code == code {
				return
			}
		}
		out = append(out, Finding{Code: code, Severity: sev, Cause: cause, Fix: fix})
	}
	tr := in.Transcript
	probed := tr != nil
	if !probed {
		tr = &handshake.Transcript{}
	}
	o := tr.Outcome
	failed := probed && o.Result != handshake.ResultOK && o.Result != handshake.ResultGreeted
	tokenBad := false
	if c := in.Token; c != nil {
		tokenBad = tokenFindings(in, *c, now().UTC(), add)
	}
	clearAsked := switchedToClear(tr)
	loginFailed := failed || o.Stop != nil || o.Server != nil || (in.Login != nil && in.Login.Err != nil)
	// What AWS says comes first: it names the root cause the wire shows
	// only as its symptom (a clear-text switch, a 1045, a closed socket).
	awsFindings(in, tr, probed, loginFailed, add)
	switch {
	case o.Stop != nil:
		if clearAsked && !in.IAM && in.Token == nil && o.Stop.Code == handshake.StopClearTextOptInMissing {
			// The opt-in is not the fix: the static password would be sent
			// in clear and refused all the same.
			add(CodeStaticPasswordToIAM, SeverityError,
				"the server switched the login to mysql_clear_password, which is how RDS/RDS Proxy IAM (AWSAuthenticationPlugin) and PAM accounts authenticate, but this endpoint is configured with a static password: the account most likely expects an IAM token (the password was not sent)",
				"set auth: iam for this endpoint (the broker then signs a token per connection), or give the account a password plugin")
		} else {
			stopFinding(in, *o.Stop, add)
		}
	case o.Server != nil:
		serverFinding(in, tr, o.Server, clearAsked, tokenBad, add)
	case failed:
		errFinding(in, tr, o.Err, add)
	}
	if c := in.Client; c != nil {
		clientFinding(in, *c, add)
	}
	if l := in.Login; l != nil && l.Err != nil && !hasError(out) {
		// The prober logged in (or explained nothing) where the real driver
		// failed: the driver's own error says why.
		loginFinding(in, tr, *l, clearAsked, tokenBad, add)
	}
	if _, ok := tr.Find(handshake.KindFullAuthRequired); ok {
		add(CodeFastAuthCacheMiss, SeverityInfo,
			"the server had no cached entry for this account (first login since start or FLUSH PRIVILEGES, or another server of a pool) and asked for full authentication: the password travels over TLS or RSA-encrypted",
			"nothing to fix if it works; without TLS the driver needs the RSA public key (see rsa-public-key-needed)")
	}
	for _, e := range tr.Events {
		if e.Kind == handshake.KindWarning && e.Fields["code"] == handshake.StopClearTextWithoutTLS {
			add(CodeClearTextWithoutTLS, SeverityError,
				"the secret was sent in clear text on a connection without TLS: anyone on the path can read it",
				"enable TLS with verification (tls.mode: verify-identity) for this endpoint")
		}
	}
	return out
}

func switchedToClear(tr *handshake.Transcript) bool {
	for _, e := range tr.Events {
		if e.Kind == handshake.KindAuthSwitchRequest && e.Fields["plugin"] == handshake.PluginClearPassword {
			return true
		}
	}
	return false
}

func tokenFindings(in Input, c TokenClaims, now time.Time, add func(code string, sev Severity, cause, fix string)) bool {
	bad := false
	if !c.SignedAt.IsZero() && c.SignedAt.After(now.Add(MaxSkew)) {
		bad = true
		add(CodeTokenClockSkew, SeverityError,
			fmt.Sprintf("the token was signed at %s, %s ahead of this clock: the signer's clock is wrong", c.SignedAt.Format(time.RFC3339), c.SignedAt.Sub(now).Round(time.Second)),
			"sync the clock of the machine that signs tokens (NTP / chrony), then mint a new token")
	} else if !c.SignedAt.IsZero() && !now.Before(c.ExpiresAt()) {
		bad = true
		add(CodeTokenExpired, SeverityError,
			fmt.Sprintf("the token was signed at %s and expired at %s (%s ago); tokens live %s", c.SignedAt.Format(time.RFC3339), c.ExpiresAt().Format(time.RFC3339), now.Sub(c.ExpiresAt()).Round(time.Second), c.Expires),
			"mint a fresh token for every new connection (a pool's creator/do_connect hook), never cache it in a DSN")
	}
	if in.Host != "" && in.Port > 0 && (!strings.EqualFold(c.Host, in.Host) || c.Port != in.Port) {
		bad = true
		add(CodeTokenWrongHost, SeverityError,
			fmt.Sprintf("the token was signed for %s:%d but the connection goes to %s:%d; RDS checks the name and port inside the token", c.Host, c.Port, in.Host, in.Port),
			"sign the token for the exact endpoint name and port you connect to (not a CNAME or a different port)")
	}
	if in.Region != "" && c.Region != "" && c.Region != in.Region {
		bad = true
		add(CodeTokenWrongRegion, SeverityError,
			fmt.Sprintf("the token was signed for region %s but the endpoint is in %s", c.Region, in.Region),
			"sign with the endpoint's region (region: in the config, or AWS_REGION of the signer)")
	}
	if u := in.Transcript; u != nil && u.User != "" && c.User != "" && c.User != u.User {
		bad = true
		add(CodeWrongUser, SeverityError,
			fmt.Sprintf("the token is for database user %q but the login is for %q", c.User, u.User),
			"sign the token for the same user name you log in with")
	}
	return bad
}

func stopFinding(in Input, r handshake.StopReason, add func(code string, sev Severity, cause, fix string)) {
	fix := r.Fix
	switch r.Code {
	case handshake.StopClearTextOptInMissing:
		add(CodeClearTextOptIn, SeverityError, r.Detail, orDefault(fix, "enable the driver's clear-text plugin option"))
	case handshake.StopClearTextWithoutTLS:
		add(CodeClearTextWithoutTLS, SeverityError, r.Detail, "enable TLS with verification (tls.mode: verify-identity)")
	case handshake.StopRSAUnavailable, handshake.StopRSAKeyRetrievalDisabled, handshake.StopFullAuthClearTextWithoutTLS:
		add(CodeRSAKeyNeeded, SeverityError, r.Detail, orDefault(fix, "use TLS, or give the driver the server's RSA public key"))
	case handshake.StopUnsupportedPlugin, handshake.StopPluginDependencyMissing:
		add(CodePluginUnsupported, SeverityError, r.Detail, orDefault(fix, "use a driver that supports "+r.Plugin+", or change the account's plugin"))
	case handshake.StopSecretWithoutVerifiedTLS:
		add(CodeSecretWithoutVerifiedTLS, SeverityError, r.Detail, orDefault(fix, "use tls.mode verify-identity so the server's certificate is checked before any secret is sent"))
	case handshake.StopServerLacksTLS:
		add(CodeServerLacksTLS, SeverityError, r.Detail, "enable TLS on the server (ssl-cert/ssl-key), or check that you reach the right server")
	default:
		add(CodeServerError, SeverityError, r.Detail, fix)
	}
}

func serverFinding(in Input, tr *handshake.Transcript, e *handshake.ServerError, clearAsked, tokenBad bool, add func(code string, sev Severity, cause, fix string)) {
	refused := fmt.Sprintf("the server refused with %d (%s) %q", e.Code, orDefault(e.SQLState, "no SQLSTATE"), e.Message)
	switch {
	case e.Code == ErSecureTransportRequired:
		add(CodeServerRequiresTLS, SeverityError,
			refused+": the server runs with require_secure_transport=ON and refuses every login over plain TCP (the password was accepted first)",
			"connect with TLS: tls.mode: verify-identity (or verify-ca) with the server's CA in tls.ca; the hints then turn TLS on for every driver")
		return
	case e.Code == ErUnknownError && !tr.Outcome.TLS && insecureRefusal(e.Message):
		// ER_UNKNOWN_ERROR is generic: the server's words are the only
		// evidence, and the transcript shows a login without TLS.
		add(CodeServerRequiresTLS, SeverityError,
			refused+" to a login without TLS: a proxy in front of the database (RDS Proxy with Require TLS, for one) accepts only TLS connections; it refused before any authentication",
			"connect with TLS: tls.mode: verify-identity with the proxy's CA (RDS Proxy: the Amazon roots, tls.ca: system)")
		return
	case e.Code != 1045:
		fix := "see the MySQL error reference for this code"
		switch e.Code {
		case 1049:
			fix = "check the database name in the endpoint config, or create the database"
		case 1044:
			fix = "GRANT the account access to this database, or connect to another one"
		case 1040:
			fix = "the server is at max_connections: close idle connections (pool sizes) or raise max_connections"
		}
		add(CodeServerError, SeverityError, refused, fix)
		return
	}
	denied := fmt.Sprintf("the server answered 1045 (%s) %q", e.SQLState, e.Message)
	iamAccount := handshake.ClearTextServerPlugin(in.AccountPlugin)
	switch {
	case tokenBad:
		// the token findings say why
	case in.AccountMissing:
		add(CodeWrongUser, SeverityError,
			fmt.Sprintf("%s: mysql.user has no account %q (read through the diagnostic account)", denied, tr.User),
			"check the user name in the endpoint config (a typo, or the account was never created on this server)")
	case iamAccount && !in.IAM:
		add(CodeStaticPasswordToIAM, SeverityError,
			fmt.Sprintf("%s: the account uses the %s plugin (read through the diagnostic account), which expects an IAM token, and a static password was sent", denied, in.AccountPlugin),
			"set auth: iam (or auth: auto) for this endpoint")
	case clearAsked && !in.IAM:
		add(CodeStaticPasswordToIAM, SeverityError,
			denied+" after switching the login to mysql_clear_password, which is how RDS/RDS Proxy (and PAM) accounts authenticate: this account expects an IAM token and a static password was sent",
			"set auth: iam for this endpoint (the broker then signs a token per connection), or give the account a password plugin")
	case clearAsked && !tr.Outcome.TLS:
		add(CodeClearTextWithoutTLS, SeverityError,
			denied+" to a clear-text (IAM) login without TLS: RDS and RDS Proxy refuse IAM authentication without TLS",
			"enable TLS with verification (tls.mode: verify-identity) for this endpoint")
	case keyRefused(tr):
		rsaFinding(tr, denied, add)
	case !tr.Outcome.TLS && tr.Greeting != nil && tr.Greeting.OffersTLS():
		// MariaDB and MySQL answer a REQUIRE SSL account on plain TCP with the
		// same 1045 as a wrong password: the transcript shows only that the
		// login went without TLS to a server that offers it.
		add(CodeServerRequiresTLS, SeverityError,
			denied+" to a login without TLS, while the server offers TLS: the account probably requires TLS (CREATE USER ... REQUIRE SSL), which the server reports with the same 1045 as a wrong password",
			"connect with TLS (tls.mode: verify-identity); if it still fails with 1045, check the user name and secret")
	case in.IAM || in.Token != nil:
		add(CodeAccessDenied, SeverityError,
			fmt.Sprintf("%s: the server refused the IAM token for %q, which looks right from here (fresh by this clock, signed for this host, port, region and user): the server sees it otherwise (its clock differs, so the token is expired or not yet valid there), expects another region or endpoint name, the IAM policy lacks rds-db:connect for this database user, or the account is not IAM-enabled", denied, tr.User),
			"compare the signer's clock with the server's (NTP), check the endpoint's region (region: in the config) against the server's, the IAM policy (arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/USER), and that the account is IDENTIFIED WITH AWSAuthenticationPlugin")
	default:
		add(CodeAccessDenied, SeverityError, denied+": the user name, the secret or the client host is not accepted",
			"check the user exists for this client host (SELECT user, host, plugin FROM mysql.user) and that the secret is current")
	}
}

func errFinding(in Input, tr *handshake.Transcript, err error, add func(code string, sev Severity, cause, fix string)) {
	var se *handshake.StageError
	stage := handshake.Stage("")
	if errors.As(err, &se) {
		stage = se.Stage
	}
	var tlsErr *handshake.TLSError
	switch {
	case reachFinding(err, tr.Addr, add):
	case stage == handshake.StageDial && se.Timeout():
		add(CodeConnectTimeout, SeverityError, "the TCP connection to "+tr.Addr+" timed out",
			"check security groups, network ACLs and routes between this host and the endpoint")
	case errors.As(err, &tlsErr) && (tlsErr.Verify != nil || isX509(err)):
		verr := tlsErr.Verify
		if verr == nil {
			verr = tlsErr.Err
		}
		fix := "trust the CA that issued the server's certificate (tls.ca)"
		if h, ok := rdshost.Parse(in.Host); ok && h.IsProxy() {
			fix = "RDS Proxy certificates chain to the Amazon Root CAs, not to the RDS bundle: use tls.ca: system (or add Amazon Root CA 1-4)"
		} else if in.CustomCA {
			fix = "the configured CA file does not issue this certificate: use the right bundle (RDS: global-bundle.pem; RDS Proxy: Amazon roots / system)"
		}
		add(CodeCAMismatch, SeverityError, "the server's certificate did not verify: "+verr.Error(), fix)
	case errors.As(err, &tlsErr):
		add(CodeTLSHandshake, SeverityError, "the TLS handshake failed: "+tlsErr.Err.Error(),
			"check that the server's TLS setup is complete and that client and server share a TLS version")
	case errors.Is(err, handshake.ErrNotMySQL) || errors.Is(err, handshake.ErrMalformedPacket) && stage == handshake.StageGreeting:
		add(CodeNotMySQL, SeverityError, "the peer at "+tr.Addr+" answered with bytes that are not a MySQL greeting ("+err.Error()+")",
			"check the port: it is probably another service (HTTP, a TLS-only port, SSH)")
	case se != nil && se.Timeout() && stage == handshake.StageGreeting:
		add(CodeGreetingTimeout, SeverityError, "connected to "+tr.Addr+" but no greeting arrived in time",
			"a MySQL server speaks first: silence means the port belongs to a protocol where the client speaks first (HTTP, for one), an overloaded server, or a proxy waiting for its backend; check the port")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		add(CodeClosedMidHandshake, SeverityError, fmt.Sprintf("the server closed the connection during the %s stage", orDefault(string(stage), "handshake")),
			"look at the server's error log; common causes: max_connections, a host block (max_connect_errors), a proxy without a healthy target")
	default:
		msg := "the connection failed"
		if err != nil {
			msg += ": " + err.Error()
		}
		add(CodeServerError, SeverityError, msg, "see the transcript")
	}
}

// isX509 reports whether err is a certificate verification failure.
func isX509(err error) bool {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	return errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// MySQL server error numbers the findings tell apart.
const (
	// ErUnknownError is ER_UNKNOWN_ERROR, which proxies use for their own
	// refusals (RDS Proxy: "server does not allow insecure connections").
	ErUnknownError = 1105
	// ErSecureTransportRequired is ER_SECURE_TRANSPORT_REQUIRED
	// (require_secure_transport=ON).
	ErSecureTransportRequired = 3159
)

// insecureRefusal reports whether a proxy's ER_UNKNOWN_ERROR text says it
// refused a connection for its lack of TLS. The number is generic, so its
// text is the only evidence there is.
func insecureRefusal(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "insecure") || strings.Contains(m, "requires tls") || strings.Contains(m, "requires ssl")
}

// keyRefused reports whether the client asked for the server's RSA public
// key on a connection without TLS and the server answered with an error
// instead of the key: the server has no RSA key pair (MySQL's
// sha2_password.cc returns CR_ERROR, which the client sees as 1045).
func keyRefused(tr *handshake.Transcript) bool {
	if tr.Outcome.TLS || tr.Outcome.Server == nil {
		return false
	}
	_, asked := tr.Find(handshake.KindRSAKeyRequest)
	_, got := tr.Find(handshake.KindRSAKeyReceived)
	return asked && !got
}

func rsaFinding(tr *handshake.Transcript, denied string, add func(code string, sev Severity, cause, fix string)) {
	plugin := handshake.PluginCachingSHA2
	if e, ok := tr.Find(handshake.KindRSAKeyRequest); ok && e.Fields["plugin"] != "" {
		plugin = e.Fields["plugin"]
	}
	if tr.Greeting != nil && tr.Greeting.OffersTLS() {
		add(CodeCachingSHA2OnlyTLS, SeverityError,
			fmt.Sprintf("%s: the server asked for %s full authentication, the client asked for the server's RSA public key on a connection without TLS, and the server answered with an error instead of the key; this server exchanges the password only over TLS (it has no RSA key, or is a proxy that supports %s only over TLS)", denied, plugin, plugin),
			"connect with TLS (tls.mode: verify-identity): over TLS the password travels inside the TLS session and no RSA key is needed")
		return
	}
	add(CodeServerHasNoRSA, SeverityError,
		fmt.Sprintf("%s: the server asked for %s full authentication, the client asked for the server's RSA public key (there is no TLS), and the server answered with an error instead of the key: it has no RSA key pair, so full authentication over plain TCP is impossible for every driver (only a login already in its fast-auth cache works)", denied, plugin),
		"enable TLS on the server (ssl-cert, ssl-key) and connect with tls.mode: verify-identity, or give the server RSA keys (caching_sha2_password_auto_generate_rsa_keys=ON, or caching_sha2_password_private_key_path / public_key_path) and restart it")
}

func clientFinding(in Input, c ClientError, add func(code string, sev Severity, cause, fix string)) {
	if c.Number != CRConnectionError {
		return // a server error or a TCP failure: the login's own findings say it
	}
	who := orDefault(c.Driver, "the driver")
	port := ""
	if in.Port > 0 {
		port = fmt.Sprintf(" and ignored port %d", in.Port)
	}
	if strings.EqualFold(in.Host, "localhost") {
		add(CodeUnixSocketUsed, SeverityError,
			fmt.Sprintf("%s took host %q to mean the local Unix socket%s (error %d: %s): the database is served on TCP localhost:%d (a tunnel, port forward or sidecar proxy), not through that socket", who, in.Host, port, c.Number, c.Message, in.Port),
			fmt.Sprintf("make the driver use TCP: host 127.0.0.1 instead of localhost, or force TCP (protocol=tcp in the driver's option file, --protocol=TCP for the CLIs); connbroker's hints for %s say how", who))
		return
	}
	add(CodeUnixSocketUsed, SeverityError,
		fmt.Sprintf("%s connected through a local Unix socket instead of TCP to %s (error %d: %s)", who, net.JoinHostPort(in.Host, strconv.Itoa(in.Port)), c.Number, c.Message),
		"make the driver use TCP (protocol=tcp in its option file, --protocol=TCP for the CLIs), or point its socket option at the server's socket")
}

// reachFinding adds the finding for a host name that does not resolve or a
// connection refused at addr, the prober's and the real driver's alike;
// false (nothing added) for any other error.
func reachFinding(err error, addr string, add func(code string, sev Severity, cause, fix string)) bool {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		add(CodeDNSFailure, SeverityError, fmt.Sprintf("the host name %q does not resolve: %s", dnsErr.Name, dnsErr.Err),
			"check the host name (a typo, a deleted instance, or a private zone not visible from here)")
	case errors.Is(err, syscall.ECONNREFUSED):
		add(CodeConnectionRefused, SeverityError, "the connection was refused: nothing listens on "+addr,
			"check the port, and that the server or proxy is running")
	default:
		return false
	}
	return true
}

// loginFinding explains the real driver's error by its type.
func loginFinding(in Input, tr *handshake.Transcript, l Login, clearAsked, tokenBad bool, add func(code string, sev Severity, cause, fix string)) {
	err := l.Err
	var cve *tls.CertificateVerificationError
	var withheld interface{ SecretWithheld() bool }
	switch {
	case errors.As(err, &withheld) && withheld.SecretWithheld():
		add(CodeSecretWithoutVerifiedTLS, SeverityError, err.Error(),
			"use tls.mode verify-identity with the server's CA so the certificate is checked before any secret is sent, or set plugin: to the account's plugin if you accept the risk")
	case l.Stage == "query":
		add(CodeServerError, SeverityError, "go-sql-driver logged in, but its first query failed: "+err.Error(),
			"check the account's privileges and the server's state (the login itself works)")
	case handshake.DriverServerError(err) != nil:
		serverFinding(in, tr, handshake.DriverServerError(err), clearAsked, tokenBad, add)
	case errors.Is(err, mysql.ErrCleartextPassword) && !in.IAM && in.Token == nil:
		add(CodeStaticPasswordToIAM, SeverityError,
			"the server switched go-sql-driver's login to mysql_clear_password (how RDS/RDS Proxy IAM and PAM accounts authenticate), and this endpoint sends a static password: the account most likely expects an IAM token",
			"set auth: iam for this endpoint, or give the account a password plugin")
	case errors.Is(err, mysql.ErrCleartextPassword):
		add(CodeClearTextOptIn, SeverityError, "the server asked go-sql-driver for mysql_clear_password and the driver was not allowed to send it",
			"set allowCleartextPasswords=true, over verified TLS")
	case errors.Is(err, mysql.ErrNoTLS):
		add(CodeServerLacksTLS, SeverityError, "TLS is required for this endpoint but the server does not offer it",
			"enable TLS on the server (ssl-cert/ssl-key), or check that you reach the right server")
	case errors.As(err, &cve) || isX509(err):
		add(CodeCAMismatch, SeverityError, "go-sql-driver could not verify the server's certificate: "+err.Error(),
			"trust the CA that issued the server's certificate (tls.ca) and check tls.server_name")
	case reachFinding(err, tr.Addr, add):
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		add(CodeConnectTimeout, SeverityError, "go-sql-driver timed out during the "+orDefault(l.Stage, "login")+" stage",
			"check security groups, network ACLs and routes, and the server's load")
	default:
		add(CodeServerError, SeverityError, "go-sql-driver's login failed at the "+orDefault(l.Stage, "login")+" stage: "+err.Error(),
			"see the transcript and the server's error log")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hasError(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}
