package hints

import "github.com/connbroker/connbroker/broker/config"

// mysqlclient renders keyword arguments for MySQLdb.connect (PyPI
// mysqlclient), built on libmysqlclient or MariaDB Connector/C.
//
// Facts (DRIVERS.md §3, checked by the compatibility matrix):
//   - TLS: ssl={"ca": ...} plus ssl_mode (2.2.4+); VERIFY_CA and above
//     verify the certificate and, with MariaDB Connector/C, the host name.
//   - mysql_clear_password is gated in Oracle's libmysqlclient and opened
//     only by LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN set before the first
//     connection; MariaDB Connector/C sends it without an opt-in.
type mysqlclient struct{}

func (mysqlclient) Name() string { return "mysqlclient" }

func (mysqlclient) Render(in Input) Hints {
	h := Hints{
		Driver:       "mysqlclient",
		SecretOption: "password",
		MinVersion:   "2.2.4",
		Packages:     []string{"mysqlclient>=2.2.4"},
		Options:      baseOptions(in, "database"),
	}
	mysqlclientTLS(in, &h, h.Options)
	mysqlclientAuth(in, &h)
	return h
}

// mysqlclientTLS sets ssl_mode and ssl for mysqlclient into o.
func mysqlclientTLS(in Input, h *Hints, o map[string]any) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		o["ssl_mode"] = "VERIFY_IDENTITY"
		o["ssl"] = map[string]any{"ca": CAFile}
	case config.TLSVerifyCA:
		o["ssl_mode"] = "VERIFY_CA"
		o["ssl"] = map[string]any{"ca": CAFile}
	case config.TLSRequired:
		o["ssl_mode"] = "REQUIRED"
		h.Warnings = append(h.Warnings, "ssl_mode REQUIRED encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		o["ssl_mode"] = "PREFERRED"
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		o["ssl_mode"] = "DISABLED"
		h.Warnings = append(h.Warnings, warnDisabled)
	}
}

// mysqlclientAuth adds the plugin-specific environment and warnings.
func mysqlclientAuth(in Input, h *Hints) {
	if in.ClearText() {
		h.Env = append(h.Env, EnvVar{Name: "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", Value: "1",
			Reason: "Oracle's libmysqlclient refuses mysql_clear_password (error 2059) unless this is set before the first connection of the process; MariaDB Connector/C ignores it"})
	}
	if in.Plugin == PluginEd25519 {
		h.Warnings = append(h.Warnings, "client_ed25519 works only when mysqlclient is built on MariaDB Connector/C (Debian's libmariadb-dev); Oracle's libmysqlclient has no such plugin")
	}
	if rsaWithoutTLS(in) {
		h.Warnings = append(h.Warnings, in.Plugin+" full authentication without TLS: Oracle's libmysqlclient needs server_public_key_path (mysqlclient 2.2.6+); MariaDB Connector/C fetches the key itself")
	}
}
