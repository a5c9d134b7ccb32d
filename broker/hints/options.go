package hints

import (
	"net"
	"net/url"
	"strconv"
)

// UnsupportedPrefix starts every warning that says a driver cannot log in to
// the endpoint's account kind at all (a missing plugin, say). The
// compatibility matrix asserts that every combination that fails carries
// such a warning, and that none that works does.
const UnsupportedPrefix = "unsupported: "

// Warnings shared by several renderers.
const (
	warnDisabled  = "TLS is disabled for this endpoint: the login and the data cross the network unencrypted"
	warnPreferred = "tls mode preferred: the connection may fall back to plain text and the server is not verified"
)

// baseOptions are host, port, user and the schema under dbKey (omitted when empty).
func baseOptions(in Input, dbKey string) map[string]any {
	o := map[string]any{"host": in.Host, "port": in.Port, "user": in.User}
	if in.Database != "" {
		o[dbKey] = in.Database
	}
	return o
}

// rsaWithoutTLS reports whether the account's plugin may need an RSA key
// exchange because TLS is not required.
func rsaWithoutTLS(in Input) bool {
	return !in.TLSMode.Requires() && (in.Plugin == PluginCachingSHA2 || in.Plugin == PluginSHA256)
}

// hostPort is "host:port" (IPv6 in brackets).
func hostPort(in Input) string { return net.JoinHostPort(in.Host, strconv.Itoa(in.Port)) }

// sqlalchemyURL is a SQLAlchemy URL without the secret: the password is
// added per connection by the do_connect event.
func sqlalchemyURL(dialect string, in Input) string {
	u := url.URL{Scheme: "mysql+" + dialect, User: url.User(in.User), Host: hostPort(in), Path: "/" + in.Database}
	return u.String()
}
