// Package resolve decides how an endpoint authenticates (IAM token or
// password), which plugin the client ends up using and whether TLS is
// required, from evidence, strongest first: explicit config, the account's
// plugin (read through an optional diagnostic account), the host name
// (RDS instance, Aurora cluster/reader/custom, RDS Proxy; region and
// partition), a configured password source, and the server greeting
// (announced plugin, TLS offered). The result lists its evidence.
package resolve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/rdshost"
	"github.com/connbroker/connbroker/broker/validate"
)

// ErrNoAccount means mysql.user has no row for the login user. Do not
// retry: fix the user name or create the account.
var ErrNoAccount = errors.New("no such account in mysql.user")

// ErrUndecided means the evidence does not decide the method. Do not
// retry: set auth explicitly or configure a diagnostic account.
var ErrUndecided = errors.New("auth method cannot be resolved from the evidence")

// Result is a resolved method with its evidence.
type Result struct {
	// Method is iam or password (never auto).
	Method config.AuthMethod
	// Plugin is the plugin the client ends up using; empty if unknown.
	Plugin string
	// TLSRequired says the login must use TLS (IAM always does).
	TLSRequired bool
	// Evidence lists the facts, strongest first.
	Evidence []validate.Evidence
}

// Facts are the gathered inputs of a resolution. Zero values mean unknown.
type Facts struct {
	// AccountPlugin is mysql.user.plugin for the login user.
	AccountPlugin string
	// AccountErr says why the account plugin could not be read.
	AccountErr error
	// Greeting is the server's greeting.
	Greeting *handshake.Greeting
	// GreetingErr says why no greeting was read.
	GreetingErr error
	// AWS is what the RDS control plane says about the endpoint's address;
	// nil when the AWS API source is off for it.
	AWS *awsapi.Facts
}

// Decide resolves ep's method from facts. It never does I/O.
func Decide(ep *config.Endpoint, f Facts) (Result, error) {
	var r Result
	ev := func(src, format string, a ...any) {
		r.Evidence = append(r.Evidence, validate.Evidence{Source: src, Detail: fmt.Sprintf(format, a...)})
	}
	host, isRDS := rdshost.Parse(ep.Host)
	var proxy *awsapi.Proxy
	if f.AWS != nil {
		proxy = f.AWS.Proxy
	}
	switch ep.Auth {
	case config.AuthIAM, config.AuthPassword:
		r.Method, r.Plugin = ep.Auth, ep.Plugin
		ev("config", "auth: %s", ep.Auth)
	case config.AuthAuto:
		ev("config", "auth: auto")
		switch {
		case handshake.ClearTextServerPlugin(f.AccountPlugin):
			r.Method = config.AuthIAM
			ev("account", "%s uses the %s plugin, which takes an IAM token in clear text", ep.User, f.AccountPlugin)
		case f.AccountPlugin != "":
			r.Method = config.AuthPassword
			ev("account", "%s uses the %s plugin (a password)", ep.User, f.AccountPlugin)
		case proxy != nil && proxy.IAMRequired():
			r.Method = config.AuthIAM
			ev("aws-api", "RDS Proxy %q requires IAM authentication (Auth IAMAuth: REQUIRED)", f.AWS.ID)
		case isRDS && ep.Password == nil:
			r.Method = config.AuthIAM
			ev("hostname", "an RDS endpoint and no password is configured: IAM")
		case ep.Password != nil:
			r.Method = config.AuthPassword
			ev("config", "a password source is configured")
		default:
			return r, fmt.Errorf("endpoint %s: %w: no account plugin (configure diagnostic), not an RDS host name, no password", ep.Name, ErrUndecided)
		}
		if r.Method == config.AuthPassword && ep.Password == nil {
			return r, fmt.Errorf("endpoint %s: %w: the account uses a password but none is configured (set password)", ep.Name, ErrUndecided)
		}
		if r.Method == config.AuthIAM && ep.Region == "" {
			return r, fmt.Errorf("endpoint %s: %w: IAM needs a region (set region)", ep.Name, ErrUndecided)
		}
		r.Plugin = handshake.ClientPluginFor(f.AccountPlugin)
		if r.Method == config.AuthIAM {
			r.Plugin = handshake.PluginClearPassword
		}
		if proxy != nil && r.Method == config.AuthPassword && f.AccountPlugin == "" {
			if p := awsapi.PluginFor(proxy.ClientPasswordAuthType()); p != "" {
				// The proxy, not the database, runs the client's side of
				// the login: it greets with this plugin.
				r.Plugin = p
			}
		}
		if ep.Plugin != "" && r.Method == config.AuthPassword {
			r.Plugin = ep.Plugin
		}
	default:
		return r, fmt.Errorf("endpoint %s: unknown auth %q", ep.Name, ep.Auth)
	}
	if ep.Auth != config.AuthAuto && f.AccountPlugin != "" {
		ev("account", "%s uses the %s plugin", ep.User, f.AccountPlugin)
	} else if f.AccountErr != nil {
		ev("account", "plugin not read: %v", f.AccountErr)
	}
	if isRDS {
		ev("hostname", "%s %q in %s (%s)", host.Kind, host.Name, host.Region, host.Partition)
	}
	awsTLS := awsEvidence(f.AWS, ev)
	if g := f.Greeting; g != nil {
		ev("greeting", "%s %s announces %s, TLS %s", g.Flavor(), g.ServerVersion, orNone(g.AuthPluginName),
			map[bool]string{true: "offered", false: "not offered"}[g.OffersTLS()])
		if r.Plugin == "" {
			r.Plugin = g.AuthPluginName
		}
	} else if f.GreetingErr != nil {
		ev("greeting", "not read: %v", f.GreetingErr)
	}
	r.TLSRequired = config.ClearText(r.Method, r.Plugin) || ep.TLS.Mode.Requires() || awsTLS
	if r.Method == config.AuthIAM {
		ev("config", "IAM tokens are only accepted over TLS")
	}
	return r, nil
}

// awsEvidence adds the AWS API's facts as evidence rows and reports
// whether they say TLS is required (a proxy's RequireTLS).
func awsEvidence(a *awsapi.Facts, ev func(src, format string, args ...any)) bool {
	if a == nil {
		return false
	}
	if a.Kind == "" {
		if a.Err != nil {
			ev("aws-api", "not read: %s", safeAWS(a.Err))
		} else {
			ev("aws-api", "no RDS instance, cluster or proxy in %s has this address", a.Region)
		}
		return false
	}
	switch {
	case a.Proxy != nil:
		p := a.Proxy
		for _, au := range p.Auth {
			ev("aws-api", "RDS Proxy %q (%s): auth %s, IAMAuth %s, ClientPasswordAuthType %s%s", a.ID, p.EngineFamily,
				orNone(au.AuthScheme), orNone(au.IAMAuth), orNone(au.ClientPasswordAuthType), forUser(au.UserName))
		}
		ev("aws-api", "RDS Proxy %q: RequireTLS %t, DefaultAuthScheme %s", a.ID, p.RequireTLS, orNone(p.DefaultAuthScheme))
		for _, t := range p.Targets {
			ev("aws-api", "RDS Proxy %q target %s: %s %s", a.ID, t.ID, orNone(t.State), t.Reason)
		}
		return p.RequireTLS
	default:
		iamOn := "unknown"
		if a.IAMAuthEnabled != nil {
			iamOn = map[bool]string{true: "enabled", false: "disabled"}[*a.IAMAuthEnabled]
		}
		ev("aws-api", "RDS %s %q: %s %s, IAM database authentication %s, resource id %s, CA %s", a.Kind, a.ID,
			a.Engine, a.EngineVersion, iamOn, orNone(a.ResourceID), orNone(a.CACertificate))
	}
	return false
}

func forUser(u string) string {
	if u == "" {
		return ""
	}
	return " for user " + u
}

// safeAWS is an AWS failure as callers may see it.
func safeAWS(err error) string {
	var ue *awsapi.UnavailableError
	if errors.As(err, &ue) {
		return ue.SafeMessage()
	}
	return "AWS API unavailable"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Gather reads the greeting (without credentials) and, when diagSecret is
// not empty, the login user's plugin through ep.Diagnostic. Failures are
// recorded in Facts, not returned.
func Gather(ctx context.Context, ep *config.Endpoint, diagSecret string) Facts {
	var f Facts
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	tr, err := (&handshake.Probe{}).Run(gctx, handshake.Target{Addr: ep.DialAddr(), GreetingOnly: true, Profile: handshake.Profile{Name: "resolve"}})
	cancel()
	f.Greeting, f.GreetingErr = tr.Greeting, err
	if ep.Diagnostic != nil && diagSecret != "" {
		f.AccountPlugin, f.AccountErr = AccountPlugin(ctx, ep, diagSecret)
	}
	return f
}

// AccountPlugin logs in as ep.Diagnostic (with ep's TLS settings) and
// reads the plugin of ep.User from mysql.user. With several host entries
// the first one wins (ORDER BY host). The error never contains the secret.
func AccountPlugin(ctx context.Context, ep *config.Endpoint, secret string) (string, error) {
	tc, err := dbtls.Config(ep.TLS.Mode, ep.TLS.CAPEM, ep.TLS.ServerName)
	if err != nil {
		return "", fmt.Errorf("tls config: %w", err)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.TLS = "tcp", ep.DialAddr(), ep.Diagnostic.User, secret, tc
	cfg.AllowFallbackToPlaintext = ep.TLS.Mode == config.TLSPreferred
	cfg.Timeout = 5 * time.Second
	// The same rule as the validator's own login: without verified TLS the
	// diagnostic account's password goes through validate's guard, which
	// lets the server switch only to a scramble plugin (no plugin is
	// configured for this account) and never sends the password in clear
	// or RSA-encrypted to a key the server handed out.
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	failures := validate.GuardConfig(qctx, cfg, ep.TLS.Mode, secret, "")
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return "", fmt.Errorf("diagnostic account config: %w", err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var plugin string
	err = db.QueryRowContext(qctx, "SELECT plugin FROM mysql.user WHERE user = ? ORDER BY host LIMIT 1", ep.User).Scan(&plugin)
	if failures != nil && err != nil {
		withheld, tlsErr := failures()
		switch {
		case withheld != nil:
			return "", fmt.Errorf("log in as %s: %w", ep.Diagnostic.User, withheld)
		case tlsErr != nil:
			return "", fmt.Errorf("log in as %s: tls: %w", ep.Diagnostic.User, tlsErr)
		}
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("%w: %q", ErrNoAccount, ep.User)
	case err != nil:
		return "", fmt.Errorf("read mysql.user as %s: %s", ep.Diagnostic.User, strings.ReplaceAll(err.Error(), secret, "[REDACTED]"))
	}
	return plugin, nil
}
