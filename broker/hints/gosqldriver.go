package hints

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/connbroker/connbroker/broker/config"
)

// GoTLSConfigName is the name under which an application registers the
// endpoint's tls.Config (mysql.RegisterTLSConfig) when the broker sends a CA
// bundle or a server name; clients/go does this itself.
const GoTLSConfigName = "connbroker"

// goSQLDriver renders github.com/go-sql-driver/mysql Config fields, named as
// in the DSN.
//
// Facts (DRIVERS.md §11, go-sql-driver dsn.go/auth.go):
//   - clear text needs allowCleartextPasswords=true; tls=true verifies
//     against system roots and the host from addr; tls=preferred and
//     skip-verify never verify.
//   - caching_sha2 without TLS fetches the RSA key itself.
//   - unknown DSN parameters become session variables, so none are added.
type goSQLDriver struct{}

func (goSQLDriver) Name() string { return "go-sql-driver" }

func (goSQLDriver) Render(in Input) Hints {
	addr := net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
	h := Hints{
		Driver:       "go-sql-driver",
		SecretOption: "passwd",
		MinVersion:   "1.8.0",
		Packages:     []string{"github.com/go-sql-driver/mysql@v1.8.0"},
		Options: map[string]any{
			"net":    "tcp",
			"addr":   addr,
			"user":   in.User,
			"dbname": in.Database,
		},
	}
	params := url.Values{}
	custom := in.HasCA || (in.ServerName != "" && in.ServerName != in.Host)
	var tlsValue string
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		tlsValue = "true"
		if custom {
			tlsValue = GoTLSConfigName
		}
	case config.TLSVerifyCA:
		tlsValue = GoTLSConfigName
	case config.TLSRequired:
		tlsValue = "skip-verify"
		h.Warnings = append(h.Warnings, "tls=skip-verify encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		tlsValue = "preferred"
		h.Warnings = append(h.Warnings, "tls=preferred falls back to plain text and does not verify the server")
	case config.TLSDisabled:
		tlsValue = "false"
		h.Warnings = append(h.Warnings, "TLS is disabled for this endpoint: the login and the data cross the network unencrypted")
	}
	h.Options["tls"] = tlsValue
	params.Set("tls", tlsValue)
	if tlsValue == GoTLSConfigName {
		h.Warnings = append(h.Warnings, `register the CA bundle first: mysql.RegisterTLSConfig("`+GoTLSConfigName+`", &tls.Config{RootCAs: <pool of tls.ca_pem>, ServerName: <tls.server_name>}) (clients/go does this for you)`)
	}
	if in.ClearText() {
		h.Options["allowCleartextPasswords"] = true
		params.Set("allowCleartextPasswords", "true")
	}
	if in.Plugin == PluginEd25519 {
		h.Warnings = append(h.Warnings, "go-sql-driver (through 1.10.1) fails 1 client_ed25519 login in 256 with \"malformed packet\" (it strips a trailing zero byte from MariaDB's 32-byte nonce): retry once on mysql.ErrMalformPkt (clients/go does)")
	}
	if in.Plugin == PluginSHA256 && !in.TLSMode.Requires() {
		h.Warnings = append(h.Warnings, "sha256_password without TLS needs the server's RSA public key: set serverPubKey or use TLS")
	}
	h.Warnings = append(h.Warnings, "in the DSN, replace {password} with the raw secret, not URL-escaped: go-sql-driver takes the password verbatim up to the last '@' (or use the options, as clients/go does)")
	var b strings.Builder
	b.WriteString(in.User)
	b.WriteString(":" + Password + "@tcp(" + addr + ")/")
	b.WriteString(url.PathEscape(in.Database))
	b.WriteString("?" + params.Encode())
	h.DSN = b.String()
	return h
}
