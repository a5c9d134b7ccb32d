package driver

import (
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// PyMySQL (pymysql.connect keyword arguments).
//
// Facts (pymysql/connections.py: Connection.__init__, _create_ssl_ctx,
// _process_auth; pymysql/_auth.py):
//   - ssl_ca alone encrypts but does NOT verify; ssl_verify_cert and
//     ssl_verify_identity must both be set for full verification, and the
//     name checked is always the host it connects to (server_hostname=host).
//   - >= 1.2: no ssl option means PREFERRED (unverified, falls back to plain
//     text), any ssl option means REQUIRED, ssl_disabled forbids TLS. Older
//     versions use TLS only with an ssl option and go on in plain text when
//     the server offers none.
//   - mysql_clear_password is answered on AuthSwitch with no opt-in and no
//     TLS check, so TLS must be forced by the options.
//   - caching_sha2/sha256 full auth without TLS needs `cryptography`;
//     client_ed25519 needs `pynacl`. It never uses a Unix socket unless
//     unix_socket is given, also for "localhost".
func init() {
	register(&Descriptor{
		Name: "pymysql", Aliases: []string{"PyMySQL"}, DisplayName: "PyMySQL", Runtime: RuntimePython,
		Sources: []string{
			"https://github.com/PyMySQL/PyMySQL/blob/main/pymysql/connections.py",
			"https://github.com/PyMySQL/PyMySQL/blob/main/pymysql/_auth.py",
		},
		Env: EnvRules{Package: "PyMySQL", Module: "pymysql", Optional: []string{"cryptography", "PyNaCl"}, GuessOrder: 1,
			Versions: []VersionRule{
				{Below: "1.1.2", Problem: "the caching_sha2 fast-auth scramble after an AuthSwitch is wrong (the salt keeps its NUL): every login takes full authentication"},
				{Below: "1.2", Problem: "TLS only with an ssl option, and no error when the server does not offer TLS"},
			}},
		render: renderPyMySQL,
		envLabel: func(f Facts) string {
			if f.Cryptography {
				return "with cryptography"
			}
			return "without cryptography"
		},
		profile: profilePyMySQL,
		variants: []Variant{
			{Label: "with cryptography and PyNaCl", Facts: Facts{Cryptography: true, PyNaCl: true}},
			{Label: "without cryptography", Facts: Facts{}},
		},
	})
}

func renderPyMySQL(in hints.Input) hints.Hints {
	h := hints.Hints{
		SecretOption: "password",
		MinVersion:   "1.1.2",
		Packages:     []string{"PyMySQL>=1.1.2"},
		Options:      baseOptions(in, "database"),
	}
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl_ca"] = hints.CAFile
		h.Options["ssl_verify_cert"] = true
		h.Options["ssl_verify_identity"] = true
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("PyMySQL", in))
		}
	case config.TLSVerifyCA:
		h.Options["ssl_ca"] = hints.CAFile
		h.Options["ssl_verify_cert"] = true
	case config.TLSRequired:
		h.Options["ssl_ca"] = hints.CAFile
		h.Warnings = append(h.Warnings, "ssl_ca alone encrypts but does not verify the server with PyMySQL (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, "no TLS option is set: PyMySQL >= 1.2 encrypts opportunistically without verification, older versions do not encrypt at all")
	case config.TLSDisabled:
		// PyMySQL >= 1.2 would otherwise negotiate unverified TLS on its own.
		h.Options["ssl_disabled"] = true
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if in.ClearText() {
		h.Warnings = append(h.Warnings, "PyMySQL answers a switch to mysql_clear_password without any opt-in and without checking TLS; never drop the ssl options above")
	}
	if rsaWithoutTLS(in) {
		h.Packages = append(h.Packages, "cryptography")
		h.Warnings = append(h.Warnings, in.Plugin+" full authentication without TLS needs the cryptography package (pip install \"PyMySQL[rsa]\")")
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Packages = append(h.Packages, "PyNaCl")
		h.Warnings = append(h.Warnings, "client_ed25519 needs the PyNaCl package (pip install \"PyMySQL[ed25519]\")")
	}
	return h
}

// pymysqlTLS is how PyMySQL uses TLS with options o (aiomysql shares the
// option names only through its own renderer).
func pymysqlTLS(o map[string]any) handshake.TLSUse {
	switch {
	case optBool(o, "ssl_disabled"):
		return handshake.TLSOff
	case optBool(o, "ssl_verify_identity") && optBool(o, "ssl_verify_cert"):
		return handshake.TLSVerifyIdentity
	case optBool(o, "ssl_verify_cert"):
		return handshake.TLSVerifyCA
	case has(o, "ssl_ca") || has(o, "ssl"):
		return handshake.TLSUnverified
	}
	return handshake.TLSOpportunistic
}

func profilePyMySQL(h hints.Hints, f Facts) handshake.Profile {
	p := handshake.PyMySQL(f.Cryptography, f.PyNaCl)
	p.TLS = pymysqlTLS(h.Options)
	p.CertNameFromAddr = true
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.InsistsOnTLS = p.TLS >= handshake.TLSUnverified
	if f.Version != "" && versionLess(f.Version, "1.2") {
		// Before 1.2.0: TLS only with an ssl option, and no check that the
		// server offered it.
		p.InsistsOnTLS = false
		if p.TLS == handshake.TLSOpportunistic {
			p.TLS, p.PrefersTLS = handshake.TLSOff, false
		}
	}
	return p
}
