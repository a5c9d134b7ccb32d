package driver

import (
	"net/url"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// Warnings shared by several renderers.
const (
	warnDisabled  = "TLS is disabled for this endpoint: the login and the data cross the network unencrypted"
	warnPreferred = "tls mode preferred: the connection may fall back to plain text and the server is not verified"
)

// baseOptions are host, port (where drivers connect: the dial address when
// set), user and the schema under dbKey (omitted when empty).
func baseOptions(in hints.Input, dbKey string) map[string]any {
	o := map[string]any{"host": in.ConnectHost(), "port": in.ConnectPort(), "user": in.User}
	if in.Database != "" {
		o[dbKey] = in.Database
	}
	return o
}

// rsaWithoutTLS reports whether the account's plugin may need an RSA key
// exchange because TLS is not required.
func rsaWithoutTLS(in hints.Input) bool {
	return !in.TLSMode.Requires() && (in.Plugin == hints.PluginCachingSHA2 || in.Plugin == hints.PluginSHA256)
}

// localhost reports whether drivers would connect to the host "localhost",
// which libmysqlclient and MariaDB Connector/C take to mean the Unix socket.
func localhost(in hints.Input) bool { return in.ConnectHost() == "localhost" }

// checksName reports whether a TLS mode makes a driver check the server's
// host name (for drivers whose verify-ca does not).
func checksName(m config.TLSMode) bool { return m == config.TLSVerifyIdentity }

// nameUnsupported is the warning for a driver that checks the certificate
// against the host it connects to and has no option for another name.
func nameUnsupported(display string, in hints.Input) string {
	return hints.UnsupportedPrefix + display + " checks the server certificate against the host it connects to (" +
		in.ConnectHost() + ") and has no option to check another name; the certificate must name " + in.VerifyName() +
		": connect by that name, or use a driver that takes a TLS server name (go-sql-driver)"
}

// sqlalchemyURL is a SQLAlchemy URL without the secret: the password is
// added per connection by the do_connect event.
func sqlalchemyURL(dialect string, in hints.Input) string {
	u := url.URL{Scheme: "mysql+" + dialect, User: url.User(in.User), Host: in.ConnectAddr(), Path: "/" + in.Database}
	return u.String()
}

// Option readers for the profile functions: a profile is derived from the
// options the hints actually set, never from the endpoint's config.

func optBool(o map[string]any, k string) bool { v, _ := o[k].(bool); return v }

func optStr(o map[string]any, k string) string { v, _ := o[k].(string); return v }

func optMap(o map[string]any, k string) map[string]any { v, _ := o[k].(map[string]any); return v }

func has(o map[string]any, k string) bool { _, ok := o[k]; return ok }

// envSet reports whether the process sets name truthily (libmysqlclient's
// test: first character 1, Y or y): from f.Vars when known, else from the
// hints' Env.
func envSet(h hints.Hints, f Facts, name string) bool {
	v, ok := "", false
	if f.Vars != nil {
		v, ok = f.Vars[name]
	} else {
		for _, e := range h.Env {
			if e.Name == name {
				v, ok = e.Value, true
			}
		}
	}
	return ok && v != "" && (v[0] == '1' || v[0] == 'Y' || v[0] == 'y')
}

// sslMode maps MySQL's ssl-mode names (mysqlclient ssl_mode, mysql CLI
// --ssl-mode, Connector/J sslMode) to how the driver uses TLS; ok is false
// for an unset or unknown value.
func sslMode(v string) (use handshake.TLSUse, ok bool) {
	switch v {
	case "DISABLED":
		return handshake.TLSOff, true
	case "PREFERRED":
		return handshake.TLSOpportunistic, true
	case "REQUIRED":
		return handshake.TLSUnverified, true
	case "VERIFY_CA":
		return handshake.TLSVerifyCA, true
	case "VERIFY_IDENTITY":
		return handshake.TLSVerifyIdentity, true
	}
	return handshake.TLSOpportunistic, false
}
