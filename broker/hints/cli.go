package hints

import "github.com/connbroker/connbroker/broker/config"

// cli renders command-line options for the mariadb client or Oracle's mysql
// client: each option is a long flag (--name=value; true means a bare
// --name). The secret goes in --password or, better, the MYSQL_PWD
// environment variable.
//
// Facts (DRIVERS.md §10): Oracle's client needs --enable-cleartext-plugin
// and takes --ssl-mode; MariaDB's client sends clear text without an opt-in
// and verifies with --ssl-verify-server-cert. Debian 12 ships only
// MariaDB's client, also as `mysql`.
type cli struct{ oracle bool }

func (c cli) Name() string {
	if c.oracle {
		return "mysql-cli"
	}
	return "mariadb-cli"
}

func (c cli) Render(in Input) Hints {
	h := Hints{Driver: c.Name(), SecretOption: "password", Options: baseOptions(in, "database")}
	if c.oracle {
		h.MinVersion = "8.0.0"
		h.Packages = []string{"mysql-client (Oracle MySQL 8.0+)"}
		c.oracleTLS(in, &h)
		if in.ClearText() {
			h.Options["enable-cleartext-plugin"] = true
		}
		if rsaWithoutTLS(in) {
			h.Options["get-server-public-key"] = true
		}
		if in.Plugin == PluginEd25519 {
			h.Warnings = append(h.Warnings, UnsupportedPrefix+"Oracle's mysql client has no client_ed25519 plugin; use the mariadb client")
		}
		h.Warnings = append(h.Warnings, "these are Oracle mysql flags; on Debian 12 `mysql` is MariaDB's client: use the mariadb-cli hints there")
		return h
	}
	h.MinVersion = "10.6"
	h.Packages = []string{"mariadb-client"}
	switch in.TLSMode {
	case config.TLSVerifyIdentity, config.TLSVerifyCA:
		h.Options["ssl"] = true
		h.Options["ssl-ca"] = CAFile
		h.Options["ssl-verify-server-cert"] = true
		if in.TLSMode == config.TLSVerifyCA {
			h.Warnings = append(h.Warnings, "--ssl-verify-server-cert also checks the host name (the mariadb client has no CA-only mode)")
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

func (cli) oracleTLS(in Input, h *Hints) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl-mode"] = "VERIFY_IDENTITY"
		h.Options["ssl-ca"] = CAFile
	case config.TLSVerifyCA:
		h.Options["ssl-mode"] = "VERIFY_CA"
		h.Options["ssl-ca"] = CAFile
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
