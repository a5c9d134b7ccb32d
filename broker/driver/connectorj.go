package driver

import (
	"net/url"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// MySQL Connector/J: connection properties and a JDBC URL.
//
// Facts (the Connector/J manual's security properties and
// NativeAuthenticationProvider, see Sources): sslMode VERIFY_IDENTITY
// verifies certificate and host name against a trust store (JKS or PKCS12, so a PEM CA must be
// imported); mysql_clear_password is always available and refused without
// TLS; caching_sha2 without TLS needs allowPublicKeyRetrieval; it checks
// the certificate against the host it connects to and never uses a Unix
// socket (NativeAuthenticationProvider, ExportControlled).
func init() {
	register(&Descriptor{
		Name: "connector-j", Aliases: []string{"connectorj", "mysql-connector-j", "jdbc"}, DisplayName: "MySQL Connector/J", Runtime: RuntimeJava,
		Sources: []string{
			"https://dev.mysql.com/doc/connector-j/en/connector-j-connp-props-security.html",
			"https://dev.mysql.com/doc/connector-j/en/connector-j-reference-using-ssl.html",
			"https://github.com/mysql/mysql-connector-j/blob/HEAD/src/main/protocol-impl/java/com/mysql/cj/protocol/a/NativeAuthenticationProvider.java",
		},
		Env:     EnvRules{Package: "com.mysql:mysql-connector-j", Module: "com.mysql.cj.jdbc.Driver"},
		render:  renderConnectorJ,
		profile: profileConnectorJ,
	})
}

func renderConnectorJ(in hints.Input) hints.Hints {
	h := hints.Hints{
		SecretOption: "password",
		MinVersion:   "8.0.13",
		Packages:     []string{"com.mysql:mysql-connector-j:26.10.0"},
		Options:      map[string]any{"user": in.User},
	}
	props := url.Values{}
	mode := map[config.TLSMode]string{
		config.TLSVerifyIdentity: "VERIFY_IDENTITY", config.TLSVerifyCA: "VERIFY_CA",
		config.TLSRequired: "REQUIRED", config.TLSPreferred: "PREFERRED", config.TLSDisabled: "DISABLED",
	}[in.TLSMode]
	h.Options["sslMode"] = mode
	props.Set("sslMode", mode)
	switch in.TLSMode {
	case config.TLSVerifyIdentity, config.TLSVerifyCA:
		if in.TLSMode == config.TLSVerifyIdentity && in.NameDiffers() {
			h.Warnings = append(h.Warnings, nameUnsupported("Connector/J", in))
		}
		if in.HasCA {
			h.Warnings = append(h.Warnings, "import the CA into a trust store and point trustCertificateKeyStoreUrl at it: keytool -importcert -noprompt -alias connbroker -file {ca_file} -keystore truststore.p12 -storetype PKCS12 -storepass <pw>")
		}
	case config.TLSRequired:
		h.Warnings = append(h.Warnings, "sslMode REQUIRED encrypts but does not verify the server (tls mode required)")
	case config.TLSPreferred:
		h.Warnings = append(h.Warnings, warnPreferred)
	case config.TLSDisabled:
		h.Warnings = append(h.Warnings, warnDisabled)
	}
	if rsaWithoutTLS(in) {
		h.Options["allowPublicKeyRetrieval"] = true
		props.Set("allowPublicKeyRetrieval", "true")
	}
	if in.Plugin == hints.PluginEd25519 {
		h.Warnings = append(h.Warnings, hints.UnsupportedPrefix+"Connector/J has no client_ed25519 plugin (MariaDB Connector/J has)")
	}
	u := url.URL{Scheme: "jdbc:mysql", Host: in.ConnectAddr(), Path: "/" + in.Database, RawQuery: props.Encode()}
	h.DSN = u.String()
	return h
}

func profileConnectorJ(h hints.Hints, _ Facts) handshake.Profile {
	p := handshake.ConnectorJ(optBool(h.Options, "allowPublicKeyRetrieval"))
	p.TLS, _ = sslMode(optStr(h.Options, "sslMode"))
	p.PrefersTLS = p.TLS == handshake.TLSOpportunistic
	p.InsistsOnTLS = p.TLS >= handshake.TLSUnverified
	p.CertNameFromAddr = true
	return p
}
