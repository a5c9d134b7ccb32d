package driver

import (
	"net"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// Node's mysql2: the options of mysql.createConnection / createPool.
//
// Facts (lib/connection_config.js and lib/auth_plugins, see Sources):
// ssl.rejectUnauthorized defaults to true but ssl.verifyIdentity to false, so the host name is checked only when it is
// set; ssl.ca takes PEM contents, not a path; since 3.22 clear text needs
// enableCleartextPlugin (older versions ignore the option). It checks the
// name it connects to (servername = host) and uses TCP unless socketPath.
func init() {
	register(&Descriptor{
		Name: "mysql2", Aliases: []string{"node-mysql2"}, DisplayName: "mysql2 (Node.js)", Runtime: RuntimeNode,
		Sources: []string{
			"https://github.com/sidorares/node-mysql2/blob/master/lib/connection_config.js",
			"https://github.com/sidorares/node-mysql2/blob/master/lib/auth_plugins/mysql_clear_password.js",
		},
		Env:     EnvRules{Package: "mysql2", Module: "mysql2", GuessOrder: 6}, // a Node process reports the package "mysql2"
		render:  renderMySQL2,
		profile: profileMySQL2,
	})
}

func renderMySQL2(in hints.Input) hints.Hints {
	h := hints.Hints{
		SecretOption: "password",
		MinVersion:   "3.0.0",
		Packages:     []string{"mysql2@>=3.0.0"},
		Options:      baseOptions(in, "database"),
	}
	const caNote = "ssl.ca takes the PEM contents, not a path: pass fs.readFileSync(ssl.ca) where ssl.ca is {ca_file}"
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl"] = map[string]any{"ca": hints.CAFile, "rejectUnauthorized": true, "verifyIdentity": true}
		h.Warnings = append(h.Warnings, caNote)
		if in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("mysql2", in))
		}
		if net.ParseIP(in.ConnectHost()) != nil {
			// mysql2 leaves servername unset for an IP host, and Node then
			// checks the certificate against "localhost" (seen with 3.24.5).
			h.Warnings = append(h.Warnings, "mysql2 does not check an IP address against the certificate: for an IP host it checks the name \"localhost\"; connect by DNS name to have the host verified")
		}
	case config.TLSVerifyCA:
		h.Options["ssl"] = map[string]any{"ca": hints.CAFile, "rejectUnauthorized": true, "verifyIdentity": false}
		h.Warnings = append(h.Warnings, caNote)
	case config.TLSRequired:
		h.Options["ssl"] = map[string]any{"rejectUnauthorized": false}
		h.Warnings = append(h.Warnings, "ssl.rejectUnauthorized false encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, "mysql2 has no opportunistic TLS: without ssl it does not encrypt")
	case config.TLSDisabled:
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if in.ClearText() {
		h.Options["enableCleartextPlugin"] = true
		h.Warnings = append(h.Warnings, "mysql2 sends a clear-text secret without checking TLS; never drop the ssl option")
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"mysql2 has no built-in client_ed25519 plugin (add one through authPlugins)")
	}
	return h
}

func profileMySQL2(h hints.Hints, _ Facts) handshake.Profile {
	p := handshake.MySQL2(optBool(h.Options, "enableCleartextPlugin"))
	s := optMap(h.Options, "ssl")
	switch {
	case s == nil:
		p.TLS = handshake.TLSOff // no opportunistic TLS without ssl
	case s["rejectUnauthorized"] == true && s["verifyIdentity"] == true:
		p.TLS = handshake.TLSVerifyIdentity
	case s["rejectUnauthorized"] == true:
		p.TLS = handshake.TLSVerifyCA
	default:
		p.TLS = handshake.TLSUnverified
	}
	p.PrefersTLS = false
	p.InsistsOnTLS = s != nil
	p.CertNameFromAddr = true
	return p
}
