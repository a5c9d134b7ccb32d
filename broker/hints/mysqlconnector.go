package hints

import "github.com/connbroker/connbroker/broker/config"

// mysqlConnector renders keyword arguments for mysql.connector.connect
// (PyPI mysql-connector-python), for its C extension (pure=false, the
// default when installed) or its pure-Python implementation.
//
// Facts (DRIVERS.md §4, checked by the compatibility matrix):
//   - ssl_ca alone does not verify: ssl_verify_cert and ssl_verify_identity
//     must be set.
//   - auth_plugin="mysql_clear_password" enables the clear-text plugin in
//     the C extension (which bundles Oracle's libmysqlclient) and sends the
//     secret in the first packet; the pure implementation refuses it
//     without TLS.
type mysqlConnector struct{ pure bool }

func (c mysqlConnector) Name() string {
	if c.pure {
		return "mysql-connector-python-pure"
	}
	return "mysql-connector-python"
}

func (c mysqlConnector) Render(in Input) Hints {
	h := Hints{
		Driver:       c.Name(),
		SecretOption: "password",
		MinVersion:   "8.3.0",
		Packages:     []string{"mysql-connector-python>=8.3.0"},
		Options:      baseOptions(in, "database"),
	}
	h.Options["use_pure"] = c.pure
	if !c.pure {
		h.Warnings = append(h.Warnings, "the C extension (26.x wheels) needs OpenSSL 3.2 and bundles it; on a system OpenSSL 3.0 (Debian 12) it loads only when mysql.connector/_mysql_connector is imported before anything imports ssl, else use_pure=false fails with ImportError \"C Extension not available\"")
	}
	mysqlConnectorOptions(c.pure, in, &h, h.Options)
	return h
}

// mysqlConnectorOptions sets TLS and plugin options into o.
func mysqlConnectorOptions(pure bool, in Input, h *Hints, o map[string]any) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		o["ssl_ca"] = CAFile
		o["ssl_verify_cert"] = true
		o["ssl_verify_identity"] = true
	case config.TLSVerifyCA:
		o["ssl_ca"] = CAFile
		o["ssl_verify_cert"] = true
	case config.TLSRequired:
		o["ssl_ca"] = CAFile
		h.Warnings = append(h.Warnings, "ssl_ca alone does not verify the server with mysql-connector-python, and it does not refuse a server without TLS (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		o["ssl_disabled"] = true
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if in.ClearText() {
		o["auth_plugin"] = PluginClearText
	}
	if in.Plugin == PluginEd25519 {
		h.Warnings = append(h.Warnings, UnsupportedPrefix+"mysql-connector-python has no client_ed25519 authentication plugin")
	}
	if rsaWithoutTLS(in) {
		if pure {
			if in.Plugin == PluginCachingSHA2 {
				h.Warnings = append(h.Warnings, UnsupportedPrefix+"the pure-Python mysql-connector-python cannot do caching_sha2_password full authentication without TLS: it sends the password unencrypted instead of RSA-encrypted, and the server refuses it; use TLS")
			} else {
				h.Warnings = append(h.Warnings, UnsupportedPrefix+"the pure-Python mysql-connector-python refuses sha256_password without TLS (\"sha256_password requires SSL\"); use TLS")
			}
		} else if in.Plugin == PluginCachingSHA2 {
			h.Warnings = append(h.Warnings, UnsupportedPrefix+"the mysql-connector-python C extension cannot do caching_sha2_password full authentication without TLS (error 2061 \"Authentication requires secure connection\": it has no option to fetch the server's RSA key); use TLS")
		}
	}
}
