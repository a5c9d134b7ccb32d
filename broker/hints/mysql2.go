package hints

import (
	"net"

	"github.com/connbroker/connbroker/broker/config"
)

// mysql2 renders the connection options of Node's mysql2
// (mysql.createConnection / createPool).
//
// Facts (DRIVERS.md §8): ssl.rejectUnauthorized defaults to true but
// ssl.verifyIdentity to false, so the host name is checked only when it is
// set; ssl.ca takes PEM contents, not a path; since 3.22 clear text needs
// enableCleartextPlugin (older versions ignore the option).
type mysql2 struct{}

func (mysql2) Name() string { return "mysql2" }

func (mysql2) Render(in Input) Hints {
	h := Hints{
		Driver:       "mysql2",
		SecretOption: "password",
		MinVersion:   "3.0.0",
		Packages:     []string{"mysql2@>=3.0.0"},
		Options:      baseOptions(in, "database"),
	}
	const caNote = "ssl.ca takes the PEM contents, not a path: pass fs.readFileSync(ssl.ca) where ssl.ca is {ca_file}"
	switch in.TLSMode {
	case config.TLSVerifyIdentity:
		h.Options["ssl"] = map[string]any{"ca": CAFile, "rejectUnauthorized": true, "verifyIdentity": true}
		h.Warnings = append(h.Warnings, caNote)
		if net.ParseIP(in.Host) != nil {
			// mysql2 leaves servername unset for an IP host, and Node then
			// checks the certificate against "localhost" (seen with 3.24.5).
			h.Warnings = append(h.Warnings, "mysql2 does not check an IP address against the certificate: for an IP host it checks the name \"localhost\"; connect by DNS name to have the host verified")
		}
	case config.TLSVerifyCA:
		h.Options["ssl"] = map[string]any{"ca": CAFile, "rejectUnauthorized": true, "verifyIdentity": false}
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
	if in.Plugin == PluginEd25519 {
		h.Warnings = append(h.Warnings, UnsupportedPrefix+"mysql2 has no built-in client_ed25519 plugin (add one through authPlugins)")
	}
	return h
}
