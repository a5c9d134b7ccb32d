package driver

import (
	"net/url"
	"slices"
	"strings"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// GoTLSConfigName is the name under which an application registers the
// endpoint's tls.Config (mysql.RegisterTLSConfig) when the broker sends a CA
// bundle or a server name; clients/go does this itself.
const GoTLSConfigName = "connbroker"

// github.com/go-sql-driver/mysql: Config fields, named as in the DSN.
//
// Facts (go-sql-driver dsn.go and auth.go, see Sources):
//   - clear text needs allowCleartextPasswords=true; tls=true verifies
//     against system roots and the host from addr; tls=preferred and
//     skip-verify never verify.
//   - caching_sha2 without TLS fetches the RSA key itself.
//   - unknown DSN parameters become session variables, so none are added.
//   - a registered tls.Config carries its own ServerName, so it verifies
//     the endpoint's name while dialing another address (a tunnel); it
//     always uses TCP (net=tcp), also for "localhost".
func init() {
	register(&Descriptor{
		Name: "go-sql-driver", Aliases: []string{"go", "go-sql-driver/mysql", "gosqldriver", "github.com/go-sql-driver/mysql"},
		Sources: []string{
			"https://github.com/go-sql-driver/mysql/blob/master/dsn.go",
			"https://github.com/go-sql-driver/mysql/blob/master/auth.go",
		},
		DisplayName: "go-sql-driver/mysql", Runtime: RuntimeGo,
		Env:      EnvRules{Package: "github.com/go-sql-driver/mysql", Module: "github.com/go-sql-driver/mysql", GuessOrder: 5},
		render:   renderGoSQLDriver,
		envLabel: func(Facts) string { return "the broker's hints" },
		profile:  profileGoSQLDriver,
	})
}

// goVerifyCANote is the warning that says the registered config verifies
// the chain only; the profile reads it to tell verify-ca from
// verify-identity under the same tls=connbroker.
const goVerifyCANote = "tls mode verify-ca: the registered tls.Config must verify the chain only (InsecureSkipVerify with a VerifyConnection that checks the chain against the CA; clients/go does this)"

func renderGoSQLDriver(in hints.Input) hints.Hints {
	addr := in.ConnectAddr()
	h := hints.Hints{
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
	custom := in.HasCA || in.NameDiffers()
	var tlsValue string
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		tlsValue = "true"
		if custom {
			tlsValue = GoTLSConfigName
		}
	case config.TLSVerifyCA:
		tlsValue = GoTLSConfigName
		h.Warnings = append(h.Warnings, goVerifyCANote)
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
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, "go-sql-driver (through 1.10.1) fails 1 client_ed25519 login in 256 with \"malformed packet\" (it strips a trailing zero byte from MariaDB's 32-byte nonce): retry once on mysql.ErrMalformPkt (clients/go does)")
	}
	if in.Plugin == hints.PluginSHA256 && !in.TLSMode.Requires() {
		h.Warnings = append(h.Warnings, "sha256_password without TLS needs the server's RSA public key: set serverPubKey or use TLS")
	}
	h.Warnings = append(h.Warnings, "in the DSN, replace {password} with the raw secret, not URL-escaped: go-sql-driver takes the password verbatim up to the last '@' (or use the options, as clients/go does)")
	var b strings.Builder
	b.WriteString(in.User)
	b.WriteString(":" + hints.Password + "@tcp(" + addr + ")/")
	b.WriteString(url.PathEscape(in.Database))
	b.WriteString("?" + params.Encode())
	h.DSN = b.String()
	return h
}

func profileGoSQLDriver(h hints.Hints, _ Facts) handshake.Profile {
	p := handshake.GoSQLDriver(optBool(h.Options, "allowCleartextPasswords"))
	switch optStr(h.Options, "tls") {
	case "false", "":
		p.TLS = handshake.TLSOff
	case "preferred":
		p.TLS = handshake.TLSOpportunistic
	case "skip-verify":
		p.TLS = handshake.TLSUnverified
	case GoTLSConfigName:
		p.TLS = handshake.TLSVerifyIdentity
		if slices.Contains(h.Warnings, goVerifyCANote) {
			p.TLS = handshake.TLSVerifyCA
		}
	default: // "true"
		p.TLS = handshake.TLSVerifyIdentity
	}
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.InsistsOnTLS = p.TLS >= handshake.TLSUnverified
	// tls=true takes the name from addr; a registered config carries
	// its own ServerName.
	p.CertNameFromAddr = optStr(h.Options, "tls") == "true"
	return p
}
