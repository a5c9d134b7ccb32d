package driver

import (
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// mysqlclient (MySQLdb.connect keyword arguments, PyPI mysqlclient), built
// on Oracle's libmysqlclient or on MariaDB Connector/C: the two are variants
// of this one descriptor.
//
// Facts (src/MySQLdb/_mysql.c _mysql_ConnectionObject_Initialize; Oracle
// sql-common/client.cc; MariaDB Connector/C libmariadb/mariadb_lib.c):
//   - TLS: ssl={"ca": ...} plus ssl_mode (2.2.4+). VERIFY_IDENTITY checks
//     the host name; with MariaDB Connector/C so does VERIFY_CA (it sets
//     MYSQL_OPT_SSL_VERIFY_SERVER_CERT). The name checked is the host it
//     connects to; there is no option for another.
//   - mysql_clear_password is gated in Oracle's libmysqlclient and opened
//     only by LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN set before the first
//     connection; MariaDB Connector/C sends it without an opt-in.
//   - Both libraries take the host "localhost" to mean the Unix socket and
//     ignore the port (error 2002 "Can't connect to local server through
//     socket"). MySQLdb has no protocol argument; an option file read with
//     read_default_file whose [client] group sets protocol does force TCP:
//     MariaDB Connector/C 3.3 reads the value as a number ("protocol=1"; it
//     ignores "protocol=TCP"; seen with mysqlclient 2.3.1 in this repo's
//     tests), Oracle's libmysqlclient takes the name TCP.
func init() {
	register(&Descriptor{
		Name: "mysqlclient", Aliases: []string{"MySQLdb", "mysqldb"}, DisplayName: "mysqlclient", Runtime: RuntimePython,
		Sources: []string{
			"https://github.com/PyMySQL/mysqlclient/blob/HEAD/src/MySQLdb/_mysql.c",
			"https://github.com/mysql/mysql-server/blob/HEAD/sql-common/client.cc",
			"https://github.com/mariadb-corporation/mariadb-connector-c/blob/HEAD/libmariadb/mariadb_lib.c",
			"https://dev.mysql.com/doc/refman/8.0/en/cleartext-pluggable-authentication.html",
		},
		Env: EnvRules{Package: "mysqlclient", Module: "MySQLdb", EnvVars: []string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "MARIADB_PLUGIN_DIR"}, GuessOrder: 2,
			Versions: []VersionRule{{Below: "2.2.4", Problem: "no ssl_mode=PREFERRED default and no ssl=True alias"}}},
		render: renderMysqlclient,
		envLabel: func(f Facts) string {
			if f.MariaDBConnC {
				return "linked against " + f.ClientLibrary
			}
			lib := f.ClientLibrary
			if lib == "" {
				lib = "libmysqlclient"
			}
			if envSet(hints.Hints{}, f, "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN") {
				return "linked against " + lib + ", LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN set"
			}
			return "linked against " + lib + ", LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN not set"
		},
		profile: profileMysqlclient,
		variants: []Variant{
			{Label: "libmysqlclient", Facts: Facts{}},
			{Label: "MariaDB Connector/C", Facts: Facts{MariaDBConnC: true}},
		},
	})
}

func renderMysqlclient(in hints.Input) hints.Hints {
	h := hints.Hints{
		SecretOption: "password",
		MinVersion:   "2.2.4",
		Packages:     []string{"mysqlclient>=2.2.4"},
		Options:      baseOptions(in, "database"),
	}
	mysqlclientTLS(in, &h, h.Options)
	mysqlclientAuth(in, &h)
	mysqlclientTCP(in, &h, h.Options)
	return h
}

// mysqlclientTCP forces TCP for "localhost" through an option file.
func mysqlclientTCP(in hints.Input, h *hints.Hints, o map[string]any) {
	if !localhost(in) {
		return
	}
	o["read_default_file"] = hints.TCPOptionFile
	h.Warnings = append(h.Warnings, "mysqlclient takes the host localhost to mean the Unix socket: read_default_file points at an option file whose [client] group sets protocol=TCP (libmysqlclient) or protocol=1 (MariaDB Connector/C) so that host and port are used (connbroker.mysqlclient writes it)")
}

// mysqlclientTLS sets ssl_mode and ssl for mysqlclient into o.
func mysqlclientTLS(in hints.Input, h *hints.Hints, o map[string]any) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		o["ssl_mode"] = "VERIFY_IDENTITY"
		o["ssl"] = map[string]any{"ca": hints.CAFile}
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("mysqlclient", in))
		}
	case config.TLSVerifyCA:
		o["ssl_mode"] = "VERIFY_CA"
		o["ssl"] = map[string]any{"ca": hints.CAFile}
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"with MariaDB Connector/C, ssl_mode VERIFY_CA also checks the host name, against the host it connects to ("+in.ConnectHost()+"), not "+in.VerifyName()+"; Oracle's libmysqlclient does not")
		}
	case config.TLSRequired:
		o["ssl_mode"] = "REQUIRED"
		h.Warnings = append(h.Warnings, "ssl_mode REQUIRED encrypts but does not verify the server (tls mode required); built on MariaDB Connector/C, mysqlclient also goes on in plain text when the server offers no TLS")
	case config.TLSPreferred:
		o["ssl_mode"] = "PREFERRED"
		h.Warnings = append(h.Warnings, warnPreferred, "built on MariaDB Connector/C 3.3, mysqlclient with ssl_mode PREFERRED and no ssl argument does not use TLS at all: a server that requires TLS refuses it")
	case config.TLSDisabled:
		o["ssl_mode"] = "DISABLED"
		h.Warnings = append(h.Warnings, warnDisabled)
	}
}

// mysqlclientAuth adds the plugin-specific environment and warnings.
func mysqlclientAuth(in hints.Input, h *hints.Hints) {
	if in.ClearText() {
		h.Env = append(h.Env, hints.EnvVar{Name: "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", Value: "1",
			Reason: "Oracle's libmysqlclient refuses mysql_clear_password (error 2059) unless this is set before the first connection of the process; MariaDB Connector/C ignores it"})
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, "client_ed25519 works only when mysqlclient is built on MariaDB Connector/C (Debian's libmariadb-dev); Oracle's libmysqlclient has no such plugin")
	}
	if rsaWithoutTLS(in) {
		h.Warnings = append(h.Warnings, in.Plugin+" full authentication without TLS: Oracle's libmysqlclient needs server_public_key_path (mysqlclient 2.2.6+); MariaDB Connector/C fetches the key itself")
	}
}

// libmysqlTLS is how a libmysqlclient or Connector/C driver uses TLS with
// ssl-mode value mode: Connector/C's VERIFY_CA checks the name too.
func libmysqlTLS(mode string, connC bool) handshake.TLSUse {
	use, _ := sslMode(mode)
	if connC && use == handshake.TLSVerifyCA {
		use = handshake.TLSVerifyIdentity
	}
	return use
}

func profileMysqlclient(h hints.Hints, f Facts) handshake.Profile {
	var p handshake.Profile
	if f.MariaDBConnC {
		p = handshake.MysqlclientMariaDBConnC()
	} else {
		p = handshake.MysqlclientLibmysql(envSet(h, f, "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"))
	}
	p.TLS = libmysqlTLS(optStr(h.Options, "ssl_mode"), f.MariaDBConnC)
	p.InsistsOnTLS = p.TLS >= handshake.TLSUnverified
	if f.MariaDBConnC {
		// mysqlclient maps ssl_mode onto Connector/C's two switches only
		// (MYSQL_OPT_SSL_ENFORCE from REQUIRED, VERIFY_SERVER_CERT from
		// VERIFY_CA): PREFERRED without an ssl dict never upgrades, and
		// REQUIRED goes on in plain text when the server offers no TLS
		// (the differential matrix, Connector/C 3.3).
		if p.TLS == handshake.TLSOpportunistic && !has(h.Options, "ssl") {
			p.TLS = handshake.TLSOff
		}
		p.InsistsOnTLS = p.TLS >= handshake.TLSVerifyCA
	}
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.UnixSocketForLocalhost = !has(h.Options, "read_default_file")
	p.CertNameFromAddr = true
	return p
}
