package driver

import (
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// aiomysql (aiomysql.connect keyword arguments).
//
// aiomysql takes TLS only as an ssl.SSLContext, which a Struct cannot carry:
// the "ssl" option is therefore a dict of the context's settings (cafile,
// check_hostname, verify_mode) that connbroker.aiomysql turns into
// ssl.create_default_context(cafile=...).
//
// Facts (aiomysql/connection.py, see Sources; checked by internal/matrix):
// it answers a switch to mysql_clear_password without an opt-in and continues in plain text when the server lacks TLS; RSA key
// exchange needs `cryptography`; the TLS name checked is the host it
// connects to (asyncio server_hostname); it uses TCP for "localhost".
func init() {
	register(&Descriptor{
		Name: "aiomysql", DisplayName: "aiomysql", Runtime: RuntimePython,
		Sources: []string{
			"https://github.com/aio-libs/aiomysql/blob/HEAD/aiomysql/connection.py",
		},
		Env:    EnvRules{Package: "aiomysql", Module: "aiomysql", Optional: []string{"cryptography"}, GuessOrder: 4},
		render: renderAIOMySQL,
		envLabel: func(f Facts) string {
			if f.Cryptography {
				return "with cryptography"
			}
			return "without cryptography"
		},
		profile: profileAIOMySQL,
		variants: []Variant{
			{Label: "ssl context, cryptography", Facts: Facts{Cryptography: true}},
			{Label: "without cryptography", Facts: Facts{}},
		},
	})
}

func renderAIOMySQL(in hints.Input) hints.Hints {
	h := hints.Hints{
		SecretOption: "password",
		MinVersion:   "0.2.0",
		Packages:     []string{"aiomysql>=0.2.0"},
		Options:      baseOptions(in, "db"),
	}
	const ctxNote = "ssl is not an aiomysql argument as sent: build ssl.create_default_context(cafile=ssl.cafile), set check_hostname and verify_mode (CERT_REQUIRED or CERT_NONE) from it (connbroker.aiomysql does this)"
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl"] = map[string]any{"cafile": hints.CAFile, "check_hostname": true, "verify_mode": "CERT_REQUIRED"}
		h.Warnings = append(h.Warnings, ctxNote)
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("aiomysql", in))
		}
	case config.TLSVerifyCA:
		h.Options["ssl"] = map[string]any{"cafile": hints.CAFile, "check_hostname": false, "verify_mode": "CERT_REQUIRED"}
		h.Warnings = append(h.Warnings, ctxNote)
	case config.TLSRequired:
		h.Options["ssl"] = map[string]any{"cafile": hints.CAFile, "check_hostname": false, "verify_mode": "CERT_NONE"}
		h.Warnings = append(h.Warnings, ctxNote, "verify_mode CERT_NONE encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, "aiomysql has no opportunistic TLS: without ssl it does not encrypt")
	case config.TLSDisabled:
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if in.TLSMode.Requires() {
		h.Warnings = append(h.Warnings, "aiomysql continues in plain text when the server does not offer TLS; connbroker.aiomysql checks that the connection is encrypted")
	}
	if in.ClearText() {
		h.Warnings = append(h.Warnings, "aiomysql answers a switch to mysql_clear_password without any opt-in and without checking TLS; never drop the ssl option")
	}
	if rsaWithoutTLS(in) {
		h.Packages = append(h.Packages, "cryptography")
		h.Warnings = append(h.Warnings, in.Plugin+" full authentication without TLS needs the cryptography package")
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"aiomysql has no client_ed25519 authentication plugin")
	}
	return h
}

func profileAIOMySQL(h hints.Hints, f Facts) handshake.Profile {
	p := handshake.AIOMySQL(f.Cryptography)
	s := optMap(h.Options, "ssl")
	switch {
	case s == nil:
		p.TLS = handshake.TLSOff // no opportunistic TLS without an SSLContext
	case s["check_hostname"] == true:
		p.TLS = handshake.TLSVerifyIdentity
	case s["verify_mode"] == "CERT_REQUIRED":
		p.TLS = handshake.TLSVerifyCA
	default:
		p.TLS = handshake.TLSUnverified
	}
	p.PrefersTLS, p.InsistsOnTLS = false, false
	p.CertNameFromAddr = true
	return p
}
