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
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

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
	CodeTLSRequiredNotUsed  = "tls-required-not-used"
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
	{CodeTLSRequiredNotUsed, SeverityError, "the account probably requires TLS, and the login did not use it"},
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
	// Transcript is the prober's transcript (required).
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
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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
	if tr == nil {
		tr = &handshake.Transcript{}
	}
	o := tr.Outcome
	failed := o.Result != handshake.ResultOK && o.Result != handshake.ResultGreeted
	tokenBad := false
	if c := in.Token; c != nil {
		tokenBad = tokenFindings(in, *c, now().UTC(), add)
	}
	clearAsked := switchedToClear(tr)
	switch {
	case o.Stop != nil:
		if clearAsked && !in.IAM && in.Token == nil && o.Stop.Code == handshake.StopClearTextOptInMissing {
			add(CodeStaticPasswordToIAM, SeverityError,
				"the server switched the login to mysql_clear_password, which is how RDS/RDS Proxy IAM (AWSAuthenticationPlugin) and PAM accounts authenticate, but this endpoint is configured with a static password: the account most likely expects an IAM token (the password was not sent)",
				"set auth: iam for this endpoint (the broker then signs a token per connection), or give the account a password plugin")
		}
		stopFinding(in, *o.Stop, add)
	case o.Server != nil:
		serverFinding(in, tr, o.Server, clearAsked, tokenBad, add)
	case failed:
		errFinding(in, tr, o.Err, add)
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
	if e.Code != 1045 {
		add(CodeServerError, SeverityError, fmt.Sprintf("the server refused with %d (%s): %s", e.Code, e.SQLState, e.Message),
			"see the MySQL error reference for this code")
		return
	}
	denied := fmt.Sprintf("the server answered 1045 (%s) %q", e.SQLState, e.Message)
	iamAccount := in.AccountPlugin == "AWSAuthenticationPlugin" || in.AccountPlugin == "pam" || in.AccountPlugin == "mysql_clear_password"
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
	case !tr.Outcome.TLS && tr.Greeting != nil && tr.Greeting.Capabilities.Has(handshake.ClientSSL):
		add(CodeTLSRequiredNotUsed, SeverityError,
			denied+" on a connection without TLS while the server offers TLS: the account may REQUIRE SSL (or the secret is wrong)",
			"connect with TLS (tls.mode: verify-identity); if it still fails, check the user name and secret")
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
	var dnsErr *net.DNSError
	var tlsErr *handshake.TLSError
	switch {
	case errors.As(err, &dnsErr):
		add(CodeDNSFailure, SeverityError, fmt.Sprintf("the host name %q does not resolve: %s", dnsErr.Name, dnsErr.Err),
			"check the host name (a typo, a deleted instance, or a private zone not visible from here)")
	case errors.Is(err, syscall.ECONNREFUSED):
		add(CodeConnectionRefused, SeverityError, "the connection was refused: nothing listens on "+tr.Addr,
			"check the port, and that the server or proxy is running")
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
