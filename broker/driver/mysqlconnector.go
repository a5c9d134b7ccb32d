package driver

import (
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// mysql-connector-python (mysql.connector.connect keyword arguments), its C
// extension (use_pure=False, the default when it loads) and its pure-Python
// implementation: two descriptors, since the hints differ (use_pure).
//
// Facts (8.3.0 source: constants.DEFAULT_CONFIGURATION, network.py
// build_ssl_context, src/mysql_capi.c MySQL_connect; 26.10 in this repo's
// tests):
//   - ssl_ca alone does not verify: ssl_verify_cert and ssl_verify_identity
//     must be set; without ssl_verify_cert it goes on in plain text when the
//     server offers no TLS; with no TLS option it upgrades unverified when
//     offered. The name checked is the host it connects to.
//   - auth_plugin="mysql_clear_password" enables the clear-text plugin in
//     the C extension (which bundles Oracle's libmysqlclient) and sends the
//     secret in the first packet; the pure implementation refuses clear
//     text without TLS.
//   - The C extension 26.10 connects over TCP for "localhost" (seen in
//     this repo's tests), unlike libmysqlclient itself.
func init() {
	register(&Descriptor{
		Name: "mysql-connector-python", Aliases: []string{"mysql.connector", "mysql-connector", "mysql-connector-python-c"},
		Sources: []string{
			"https://github.com/mysql/mysql-connector-python/blob/HEAD/mysql-connector-python/lib/mysql/connector/network.py",
			"https://github.com/mysql/mysql-connector-python/blob/HEAD/mysql-connector-python/lib/mysql/connector/constants.py",
			"https://github.com/mysql/mysql-connector-python/blob/HEAD/mysql-connector-python/src/mysql_capi.c",
		},
		DisplayName: "mysql-connector-python (C extension)", Runtime: RuntimePython,
		Env:      EnvRules{Package: "mysql-connector-python", Module: "mysql.connector", EnvVars: []string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"}, GuessOrder: 3},
		render:   func(in hints.Input) hints.Hints { return renderConnector(false, in) },
		profile:  func(h hints.Hints, f Facts) handshake.Profile { return profileConnector(false, h, f) },
		variants: []Variant{{Label: "C extension", Facts: Facts{}}},
		envLabel: func(f Facts) string {
			if !f.CExtension {
				return "C extension (does not load)"
			}
			return "C extension"
		},
	})
	register(&Descriptor{
		Name: "mysql-connector-python-pure", Aliases: []string{"mysql-connector-pure"},
		Sources: []string{
			"https://github.com/mysql/mysql-connector-python/blob/HEAD/mysql-connector-python/lib/mysql/connector/network.py",
			"https://github.com/mysql/mysql-connector-python/blob/HEAD/mysql-connector-python/lib/mysql/connector/authentication.py",
		},
		DisplayName: "mysql-connector-python (pure Python)", Runtime: RuntimePython,
		Env:      EnvRules{Package: "mysql-connector-python", Module: "mysql.connector"},
		render:   func(in hints.Input) hints.Hints { return renderConnector(true, in) },
		profile:  func(h hints.Hints, f Facts) handshake.Profile { return profileConnector(true, h, f) },
		variants: []Variant{{Label: "use_pure=True", Facts: Facts{}}},
		envLabel: func(f Facts) string {
			if f.CExtension {
				return "use_pure=True"
			}
			return "pure Python (no C extension)"
		},
	})
}

func renderConnector(pure bool, in hints.Input) hints.Hints {
	name := "mysql-connector-python"
	if pure {
		name += "-pure"
	}
	h := hints.Hints{
		Driver:       name,
		SecretOption: "password",
		MinVersion:   "8.3.0",
		Packages:     []string{"mysql-connector-python>=8.3.0"},
		Options:      baseOptions(in, "database"),
	}
	h.Options["use_pure"] = pure
	if !pure {
		h.Warnings = append(h.Warnings, "the C extension (26.x wheels) needs OpenSSL 3.2 and bundles it; on a system OpenSSL 3.0 (Debian 12) it loads only when mysql.connector/_mysql_connector is imported before anything imports ssl, else use_pure=false fails with ImportError \"C Extension not available\"")
	}
	connectorOptions(pure, in, &h, h.Options)
	return h
}

// connectorOptions sets TLS and plugin options into o.
func connectorOptions(pure bool, in hints.Input, h *hints.Hints, o map[string]any) {
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		o["ssl_ca"] = hints.CAFile
		o["ssl_verify_cert"] = true
		o["ssl_verify_identity"] = true
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("mysql-connector-python", in))
		}
	case config.TLSVerifyCA:
		o["ssl_ca"] = hints.CAFile
		o["ssl_verify_cert"] = true
		if !pure {
			h.Warnings = append(h.Warnings, "the mysql-connector-python C extension with ssl_verify_cert and without ssl_verify_identity does not refuse a server that offers no TLS: it logs in in plain text (tls mode verify-ca; use verify-identity, or the pure implementation)")
		}
	case config.TLSRequired:
		o["ssl_ca"] = hints.CAFile
		h.Warnings = append(h.Warnings, "ssl_ca alone does not verify the server with mysql-connector-python, and it does not refuse a server without TLS (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		o["ssl_disabled"] = true
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if in.ClearText() {
		o["auth_plugin"] = hints.PluginClearText
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"mysql-connector-python has no client_ed25519 authentication plugin")
	}
	if rsaWithoutTLS(in) {
		if pure {
			if in.Plugin == hints.PluginCachingSHA2 {
				h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"the pure-Python mysql-connector-python cannot do caching_sha2_password full authentication without TLS: it sends the password unencrypted instead of RSA-encrypted, and the server refuses it; use TLS")
			} else {
				h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"the pure-Python mysql-connector-python refuses sha256_password without TLS (\"sha256_password requires SSL\"); use TLS")
			}
		} else if in.Plugin == hints.PluginCachingSHA2 {
			h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"the mysql-connector-python C extension cannot do caching_sha2_password full authentication without TLS (error 2061 \"Authentication requires secure connection\": it has no option to fetch the server's RSA key); use TLS")
		}
	}
}

func profileConnector(pure bool, h hints.Hints, f Facts) handshake.Profile {
	o := h.Options
	var p handshake.Profile
	if pure {
		p = handshake.ConnectorPythonPure()
	} else {
		p = handshake.ConnectorPythonC()
		if optStr(o, "auth_plugin") == hints.PluginClearText {
			p.FirstPlugin, p.ClearTextOptIn = hints.PluginClearText, true
		}
		if envSet(h, f, "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN") {
			p.ClearTextOptIn = true
		}
	}
	switch {
	case optBool(o, "ssl_disabled"):
		p.TLS = handshake.TLSOff
	case optBool(o, "ssl_verify_cert") && optBool(o, "ssl_verify_identity"):
		p.TLS = handshake.TLSVerifyIdentity
	case optBool(o, "ssl_verify_cert"):
		p.TLS = handshake.TLSVerifyCA
	case has(o, "ssl_ca"):
		p.TLS = handshake.TLSUnverified
	default:
		p.TLS = handshake.TLSOpportunistic
	}
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.InsistsOnTLS = optBool(o, "ssl_verify_cert")
	if !pure {
		// The C extension with ssl_verify_cert alone goes on in plain text
		// with a server that offers no TLS (the differential matrix, 26.10).
		p.InsistsOnTLS = p.TLS == handshake.TLSVerifyIdentity
	}
	p.CertNameFromAddr = true
	return p
}
