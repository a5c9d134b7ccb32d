package driver

import (
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// The mariadb client and Oracle's mysql client: each option is a long flag
// (--name=value; true means a bare --name). The secret goes in --password
// or, better, the MYSQL_PWD environment variable.
//
// Facts (Oracle client/mysql.cc and sql-common/client.cc; MariaDB
// client/mysql.cc on Connector/C): Oracle's client needs
// --enable-cleartext-plugin and takes --ssl-mode; it takes "localhost" to
// mean the Unix socket unless --protocol=TCP. MariaDB's client sends clear
// text without an opt-in, verifies (chain and host name) with
// --ssl-verify-server-cert, and uses TCP for "localhost" when a port is
// given (seen with 10.11); --protocol=TCP makes that explicit. Neither has
// an option to check another TLS name than the host. Debian 12 ships only
// MariaDB's client, also as `mysql`.
func init() {
	register(&Descriptor{
		Name: "mysql-cli", Aliases: []string{"mysql"}, DisplayName: "mysql CLI (Oracle 8.x)", Runtime: RuntimeCLI,
		Sources: []string{
			"https://github.com/mysql/mysql-server/blob/HEAD/client/mysql.cc",
			"https://github.com/mysql/mysql-server/blob/HEAD/sql-common/client.cc",
			"https://dev.mysql.com/doc/refman/8.0/en/cleartext-pluggable-authentication.html",
		},
		Env:     EnvRules{Package: "mysql-client", Module: "mysql", EnvVars: []string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "MYSQL_PWD"}},
		render:  func(in hints.Input) hints.Hints { return renderCLI(true, in) },
		profile: profileMySQLCLI,
	})
	register(&Descriptor{
		Name: "mariadb-cli", Aliases: []string{"mariadb"}, DisplayName: "mariadb CLI", Runtime: RuntimeCLI,
		Sources: []string{
			"https://github.com/MariaDB/server/blob/HEAD/client/mysql.cc",
			"https://mariadb.com/docs/all/ref/mdb/cli/mariadb/ssl-verify-server-cert/",
		},
		Env:     EnvRules{Package: "mariadb-client", Module: "mariadb", EnvVars: []string{"MYSQL_PWD", "MARIADB_PLUGIN_DIR"}},
		render:  func(in hints.Input) hints.Hints { return renderCLI(false, in) },
		profile: profileMariaDBCLI,
	})
}

func renderCLI(oracle bool, in hints.Input) hints.Hints {
	name := "mariadb-cli"
	if oracle {
		name = "mysql-cli"
	}
	h := hints.Hints{Driver: name, SecretOption: "password", Options: baseOptions(in, "database")}
	if localhost(in) {
		h.Options["protocol"] = "TCP"
	}
	if oracle {
		h.MinVersion = "8.0.0"
		h.Packages = []string{"mysql-client (Oracle MySQL 8.0+)"}
		oracleTLS(in, &h)
		if in.ClearText() {
			h.Options["enable-cleartext-plugin"] = true
		}
		if rsaWithoutTLS(in) {
			h.Options["get-server-public-key"] = true
		}
		if in.Plugin == hints.PluginEd25519 {
			h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"Oracle's mysql client has no client_ed25519 plugin; use the mariadb client")
		}
		h.Warnings = append(h.Warnings, "these are Oracle mysql flags; on Debian 12 `mysql` is MariaDB's client: use the mariadb-cli hints there")
		return h
	}
	h.MinVersion = "10.6"
	h.Packages = []string{"mariadb-client"}
	switch in.TLSMode {
	case config.TLSVerifyIdentity, config.TLSVerifyCA:
		h.Options["ssl"] = true
		h.Options["ssl-ca"] = hints.CAFile
		h.Options["ssl-verify-server-cert"] = true
		if in.TLSMode == config.TLSVerifyCA {
			h.Warnings = append(h.Warnings, "--ssl-verify-server-cert also checks the host name (the mariadb client has no CA-only mode)")
		}
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("the mariadb client", in))
		}
	case config.TLSRequired:
		h.Options["ssl"] = true
		h.Warnings = append(h.Warnings, "--ssl without --ssl-verify-server-cert encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		h.Options["skip-ssl"] = true
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	return h
}

func oracleTLS(in hints.Input, h *hints.Hints) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl-mode"] = "VERIFY_IDENTITY"
		h.Options["ssl-ca"] = hints.CAFile
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("Oracle's mysql client", in))
		}
	case config.TLSVerifyCA:
		h.Options["ssl-mode"] = "VERIFY_CA"
		h.Options["ssl-ca"] = hints.CAFile
	case config.TLSRequired:
		h.Options["ssl-mode"] = "REQUIRED"
		h.Warnings = append(h.Warnings, "--ssl-mode=REQUIRED encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		h.Options["ssl-mode"] = "PREFERRED"
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		h.Options["ssl-mode"] = "DISABLED"
		h.Warnings = append(h.Warnings, warnDisabled)
	}
}

func profileMySQLCLI(h hints.Hints, f Facts) handshake.Profile {
	o := h.Options
	p := handshake.MySQLCLI(optBool(o, "enable-cleartext-plugin") || envSet(h, f, "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"))
	if optBool(o, "get-server-public-key") {
		p.RSA = handshake.RSARetrieveKey
	}
	p.TLS, _ = sslMode(optStr(o, "ssl-mode"))
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.InsistsOnTLS = p.TLS >= handshake.TLSUnverified
	p.UnixSocketForLocalhost = optStr(o, "protocol") != "TCP"
	p.CertNameFromAddr = true
	return p
}

func profileMariaDBCLI(h hints.Hints, _ Facts) handshake.Profile {
	o := h.Options
	p := handshake.MariaDBCLI()
	switch {
	case optBool(o, "skip-ssl"):
		p.TLS = handshake.TLSOff
	case optBool(o, "ssl-verify-server-cert"):
		p.TLS = handshake.TLSVerifyIdentity
	case optBool(o, "ssl"):
		p.TLS = handshake.TLSUnverified
	default:
		p.TLS = handshake.TLSOpportunistic
	}
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	// With --ssl-verify-server-cert it insists (error 2026); --ssl alone
	// falls back to plain text.
	p.InsistsOnTLS = p.TLS == handshake.TLSVerifyIdentity
	p.CertNameFromAddr = true
	return p
}
