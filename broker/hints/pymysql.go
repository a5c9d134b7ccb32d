package hints

import "github.com/connbroker/connbroker/broker/config"

// pymysql renders PyMySQL keyword arguments (pymysql.connect).
//
// Facts (DRIVERS.md §2, pymysql/connections.py):
//   - ssl_ca alone encrypts but does NOT verify; ssl_verify_cert and
//     ssl_verify_identity must both be set for full verification.
//   - mysql_clear_password is answered on AuthSwitch with no opt-in and no
//     TLS check, so TLS must be forced by the options.
//   - caching_sha2/sha256 full auth without TLS needs `cryptography`;
//     client_ed25519 needs `pynacl`.
type pymysql struct{}

func (pymysql) Name() string { return "pymysql" }

func (pymysql) Render(in Input) Hints {
	h := Hints{
		Driver:       "pymysql",
		SecretOption: "password",
		MinVersion:   "1.1.2",
		Packages:     []string{"PyMySQL>=1.1.2"},
		Options: map[string]any{
			"host": in.Host,
			"port": in.Port,
			"user": in.User,
		},
	}
	if in.Database != "" {
		h.Options["database"] = in.Database
	}
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl_ca"] = CAFile
		h.Options["ssl_verify_cert"] = true
		h.Options["ssl_verify_identity"] = true
		if in.ServerName != "" && in.ServerName != in.Host {
			h.Warnings = append(h.Warnings, "PyMySQL checks the certificate against host; the endpoint's server_name differs, so pass ssl=ssl.create_default_context(cafile=...) with server_hostname handling, or connect by that name")
		}
	case config.TLSVerifyCA:
		h.Options["ssl_ca"] = CAFile
		h.Options["ssl_verify_cert"] = true
	case config.TLSRequired:
		h.Options["ssl_ca"] = CAFile
		h.Warnings = append(h.Warnings, "ssl_ca alone encrypts but does not verify the server with PyMySQL (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, "no TLS option is set: PyMySQL >= 1.2 encrypts opportunistically without verification, older versions do not encrypt at all")
	case config.TLSDisabled:
		// PyMySQL >= 1.2 would otherwise negotiate unverified TLS on its own.
		h.Options["ssl_disabled"] = true
		h.Warnings = append(h.Warnings, "TLS is disabled for this endpoint: the login and the data cross the network unencrypted")
	}
	if in.ClearText() {
		h.Warnings = append(h.Warnings, "PyMySQL answers a switch to mysql_clear_password without any opt-in and without checking TLS; never drop the ssl options above")
	}
	if !in.TLSMode.Requires() && (in.Plugin == PluginCachingSHA2 || in.Plugin == PluginSHA256) {
		h.Packages = append(h.Packages, "cryptography")
		h.Warnings = append(h.Warnings, in.Plugin+" full authentication without TLS needs the cryptography package (pip install \"PyMySQL[rsa]\")")
	}
	if in.Plugin == PluginEd25519 {
		h.Packages = append(h.Packages, "PyNaCl")
		h.Warnings = append(h.Warnings, "client_ed25519 needs the PyNaCl package (pip install \"PyMySQL[ed25519]\")")
	}
	return h
}
