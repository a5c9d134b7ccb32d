package handshake

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// RSAMode says how a driver handles the RSA step of caching_sha2_password
// and sha256_password full authentication on a connection without TLS.
type RSAMode int

const (
	// RSAUnavailable: the driver cannot encrypt (PyMySQL without
	// cryptography, libmysqlclient-based drivers without a key file).
	RSAUnavailable RSAMode = iota
	// RSAPinnedKeyOnly: the driver encrypts only with a public key it was
	// given; it does not ask the server (Connector/J without
	// allowPublicKeyRetrieval, mysql CLI without --get-server-public-key).
	// The probe has no pinned key, so it stops.
	RSAPinnedKeyOnly
	// RSARetrieveKey: the driver asks the server for its public key.
	RSARetrieveKey
)

// String names the mode.
func (m RSAMode) String() string {
	switch m {
	case RSAUnavailable:
		return "unavailable"
	case RSAPinnedKeyOnly:
		return "pinned-key-only"
	case RSARetrieveKey:
		return "retrieve-key"
	}
	return "unknown"
}

// Profile models what one driver does in the connection phase. The values
// come from each driver's source (the public files listed as Sources in its
// broker/driver descriptor, and docs/DRIVERS.md); the constructors below
// document the version each models. GoSQLDriver, MariaDBCLI and PyMySQL are checked
// against the real drivers, account by account, in broker/diagnose
// (TestProfilesMatchRealDrivers); those and MysqlclientMariaDBConnC,
// ConnectorPythonC, ConnectorPythonPure, AIOMySQL, MySQL2 and ConnectorJ,
// set up as the broker's hints set up each driver, in internal/matrix
// (TestCompatibility), with MysqlclientLibmysql's clear-text gate. MySQLCLI
// is not checked (Oracle's client does not run on Debian 12). Callers may
// adjust a returned Profile.
type Profile struct {
	// Name identifies the driver, e.g. "go-sql-driver/mysql".
	Name string
	// Plugins are the client plugins the driver can run.
	Plugins []string
	// FirstPlugin, when set, is used in the HandshakeResponse whatever the
	// server announces (Connector/Python auth_plugin=..., aiomysql
	// auth_plugin=...).
	FirstPlugin string
	// DefaultPlugin is used in the HandshakeResponse when the announced
	// plugin is not in Plugins; empty sends an empty response and plugin
	// name (PyMySQL), leaving the server to AuthSwitch.
	DefaultPlugin string
	// ClearTextNeedsOptIn: mysql_clear_password is disabled unless opted in.
	ClearTextNeedsOptIn bool
	// ClearTextOptIn: the opt-in is given.
	ClearTextOptIn bool
	// ClearTextOptInHint says how to opt in for this driver.
	ClearTextOptInHint string
	// ClearTextWithoutTLS: the driver sends mysql_clear_password on a
	// connection without TLS. When true the probe does so too (and records a
	// warning event); when false it stops with StopClearTextWithoutTLS.
	ClearTextWithoutTLS bool
	// RSA is how the driver does the RSA step without TLS.
	RSA RSAMode
	// RSAHint says what enables the RSA step for this driver.
	RSAHint string
	// SHA256RetrievesKey: for sha256_password without TLS the driver asks
	// the server for its public key whatever RSA says. Oracle's
	// libmysqlclient does (its get-server-public-key option concerns only
	// caching_sha2_password), seen with mysql-connector-python's C
	// extension in internal/matrix.
	SHA256RetrievesKey bool
	// FullAuthClearTextWithoutTLS: on caching_sha2_password full auth
	// without TLS the driver sends the password in clear instead of using
	// RSA (mysql-connector-python pure 8.3). The probe never does that: it
	// stops with StopFullAuthClearTextWithoutTLS.
	FullAuthClearTextWithoutTLS bool
	// InsistsOnTLS: when TLS is configured and the server does not offer
	// it, the driver fails; false means it silently goes on in plain text.
	InsistsOnTLS bool
	// PrefersTLS: with no TLS configured (Target.TLS nil) the driver still
	// upgrades, unverified, when the server offers TLS (MySQL's PREFERRED).
	PrefersTLS bool
	// PluginNeeds maps a plugin the driver could run with an extra
	// dependency to what is missing, e.g. client_ed25519 -> "pip install
	// pynacl". Such plugins are not in Plugins.
	PluginNeeds map[string]string
	// TLS is how the driver, as configured, uses TLS; TLSAsTarget (the
	// zero value) leaves it to Target.TLS and PrefersTLS. Profiles derived
	// from rendered hints (broker/driver) always set it: see TargetTLS.
	TLS TLSUse
	// UnixSocketForLocalhost: given the host "localhost" the driver
	// connects to the Unix socket, ignoring the port (libmysqlclient and
	// MariaDB Connector/C without protocol=TCP). The probe then stops with
	// StopUnixSocket: it cannot reach the socket the driver would use.
	UnixSocketForLocalhost bool
	// CertNameFromAddr: the driver checks the certificate against the host
	// it connects to (Target.Addr), whatever the endpoint's server name;
	// false means it checks the configured server name (go-sql-driver with
	// a registered tls.Config). Only TargetTLS reads it.
	CertNameFromAddr bool
}

// StopUnixSocket: the driver would connect to the Unix socket instead of
// host and port (Profile.UnixSocketForLocalhost and the host "localhost").
const StopUnixSocket = "unix-socket-instead-of-tcp"

// TLSUse is how a driver, set up by its options, uses TLS.
type TLSUse int

const (
	// TLSAsTarget: Target.TLS and PrefersTLS decide (profiles built by the
	// constructors below).
	TLSAsTarget TLSUse = iota
	// TLSOff: the driver never upgrades, even when the server offers TLS
	// (PyMySQL ssl_disabled, mariadb --skip-ssl, tls=false).
	TLSOff
	// TLSOpportunistic: the driver upgrades, unverified, when the server
	// offers TLS, else goes on in plain text (MySQL's PREFERRED).
	TLSOpportunistic
	// TLSUnverified: the driver upgrades without verifying the certificate
	// (ssl_mode REQUIRED, ssl_ca alone in PyMySQL).
	TLSUnverified
	// TLSVerifyCA: the driver verifies the chain, not the host name.
	TLSVerifyCA
	// TLSVerifyIdentity: the driver verifies chain and host name.
	TLSVerifyIdentity
)

// String names the use.
func (u TLSUse) String() string {
	switch u {
	case TLSAsTarget:
		return "as-target"
	case TLSOff:
		return "off"
	case TLSOpportunistic:
		return "opportunistic"
	case TLSUnverified:
		return "unverified"
	case TLSVerifyCA:
		return "verify-ca"
	case TLSVerifyIdentity:
		return "verify-identity"
	}
	return "unknown"
}

// ErrNoVerifiedTLS is returned by TargetTLS when the driver verifies the
// server but no verifying endpoint configuration was given.
var ErrNoVerifiedTLS = errors.New("the driver verifies the server but the endpoint has no verifying tls configuration")

// TargetTLS is the Target.TLS that plays this profile's TLS use, built from
// the endpoint's own configuration ep (its roots and server name; nil when
// the endpoint uses no TLS). It returns ep unchanged for TLSAsTarget and nil
// for TLSOff and TLSOpportunistic (PrefersTLS then decides).
func (p *Profile) TargetTLS(ep *tls.Config) (*tls.Config, error) {
	switch p.TLS {
	case TLSAsTarget:
		return ep, nil
	case TLSOff, TLSOpportunistic:
		return nil, nil
	case TLSUnverified:
		c := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // what the driver does
		if ep != nil {
			c.ServerName = ep.ServerName
		}
		return c, nil
	}
	if ep == nil || (ep.InsecureSkipVerify && ep.VerifyConnection == nil) {
		return nil, fmt.Errorf("%s: %w", p.TLS, ErrNoVerifiedTLS)
	}
	c := ep.Clone()
	if p.TLS == TLSVerifyIdentity {
		c.InsecureSkipVerify, c.VerifyConnection = false, nil
		if p.CertNameFromAddr {
			c.ServerName = "" // the probe then takes it from Target.Addr
		}
		return c, nil
	}
	roots := ep.RootCAs
	c.InsecureSkipVerify = true //nolint:gosec // the chain is verified below, the name is not (verify-ca)
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		return VerifyPeer(cs.PeerCertificates, x509.VerifyOptions{Roots: roots})
	}
	return c, nil
}

// ErrNoCertificate means the server sent no certificate in its TLS
// handshake. Do not retry: the server's TLS setup is broken.
var ErrNoCertificate = errors.New("server sent no certificate")

// VerifyPeer verifies the certificate chain a server sent (leaf first, the
// rest as intermediates) with opts: Roots nil means the system roots, an
// empty DNSName skips the name check (verify-ca). It is the one chain check
// of the prober, of a verify-ca Profile and of broker/dbtls.
func VerifyPeer(certs []*x509.Certificate, opts x509.VerifyOptions) error {
	if len(certs) == 0 {
		return ErrNoCertificate
	}
	opts.Intermediates = x509.NewCertPool()
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(opts)
	return err
}

// Supports reports whether the driver can run plugin.
func (p *Profile) Supports(plugin string) bool { return slices.Contains(p.Plugins, plugin) }

// GoSQLDriver models github.com/go-sql-driver/mysql v1.10 with tls set to a
// *tls.Config (tls=true or a registered name, not "preferred"). Clear text
// needs allowCleartextPasswords=true and is sent with no TLS check; the RSA
// key is fetched automatically.
func GoSQLDriver(allowCleartext bool) Profile {
	return Profile{
		Name:                "go-sql-driver/mysql",
		Plugins:             []string{PluginCachingSHA2, PluginNative, PluginSHA256, PluginClearPassword, PluginEd25519},
		DefaultPlugin:       PluginNative,
		ClearTextNeedsOptIn: true,
		ClearTextOptIn:      allowCleartext,
		ClearTextOptInHint:  "allowCleartextPasswords=true (Config.AllowCleartextPasswords)",
		ClearTextWithoutTLS: true,
		RSA:                 RSARetrieveKey,
		InsistsOnTLS:        true,
	}
}

// PyMySQL models PyMySQL 1.2 with an SSL option set (TLS REQUIRED). Clear
// text needs no opt-in and has no TLS check; RSA needs the cryptography
// package and client_ed25519 needs pynacl. PyMySQL <= 1.1 does not insist on
// TLS: set InsistsOnTLS to false for it. Without any ssl option PyMySQL
// 1.2.4 (seen in TestProfilesMatchRealDrivers) upgrades to TLS unverified
// when the server offers it (PREFERRED), so PrefersTLS is set.
func PyMySQL(hasCryptography, hasPyNaCl bool) Profile {
	p := Profile{
		Name:                "PyMySQL",
		Plugins:             []string{PluginNative, PluginCachingSHA2, PluginSHA256, PluginClearPassword},
		ClearTextWithoutTLS: true,
		RSA:                 RSAUnavailable,
		RSAHint:             "pip install cryptography",
		InsistsOnTLS:        true,
		PrefersTLS:          true,
		PluginNeeds:         map[string]string{},
	}
	if hasCryptography {
		p.RSA = RSARetrieveKey
	}
	if hasPyNaCl {
		p.Plugins = append(p.Plugins, PluginEd25519)
	} else {
		p.PluginNeeds[PluginEd25519] = "pip install pynacl"
	}
	return p
}

// AIOMySQL models aiomysql 0.3 with an ssl.SSLContext (the connbroker
// helper's): PyMySQL's plugins without client_ed25519 (aiomysql has its own
// connection code and no ed25519 plugin, PyNaCl or not), clear text with no
// opt-in and no TLS check, RSA only with the cryptography package. It goes
// on in plain text when the server offers no TLS (no insisting) and never
// upgrades without an SSLContext (no PREFERRED).
func AIOMySQL(hasCryptography bool) Profile {
	p := PyMySQL(hasCryptography, false)
	p.Name = "aiomysql"
	p.InsistsOnTLS = false
	p.PrefersTLS = false
	p.PluginNeeds = nil
	return p
}

// libmysqlclient returns the Oracle libmysqlclient 8.x behaviour shared by
// the mysql CLI, mysqlclient and Connector/Python's C extension. Without TLS
// sha256_password fetches the server's key; caching_sha2_password does only
// when told to (RSA).
func libmysqlclient(name string, optIn bool, hint, rsaHint string) Profile {
	return Profile{
		Name:                name,
		Plugins:             []string{PluginCachingSHA2, PluginNative, PluginSHA256, PluginClearPassword},
		DefaultPlugin:       PluginCachingSHA2,
		ClearTextNeedsOptIn: true,
		ClearTextOptIn:      optIn,
		ClearTextOptInHint:  hint,
		ClearTextWithoutTLS: true,
		RSA:                 RSAPinnedKeyOnly,
		RSAHint:             rsaHint,
		SHA256RetrievesKey:  true,
		InsistsOnTLS:        true,
	}
}

// MySQLCLI models Oracle's mysql 8.x client with --ssl-mode=REQUIRED or
// stricter. Clear text needs --enable-cleartext-plugin (error 2059 without
// it); caching_sha2 without TLS needs --get-server-public-key (error 2061).
func MySQLCLI(enableCleartext bool) Profile {
	return libmysqlclient("mysql CLI (libmysqlclient)", enableCleartext,
		"--enable-cleartext-plugin (or LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1)",
		"--get-server-public-key or --server-public-key-path")
}

// mariadbConnC returns MariaDB Connector/C behaviour: no clear-text gate,
// no TLS check for clear text, client_ed25519 built in.
func mariadbConnC(name string) Profile {
	return Profile{
		Name:                name,
		Plugins:             []string{PluginNative, PluginClearPassword, PluginEd25519, PluginCachingSHA2, PluginSHA256},
		DefaultPlugin:       PluginNative,
		ClearTextWithoutTLS: true,
		RSA:                 RSARetrieveKey,
		InsistsOnTLS:        false,
	}
}

// MariaDBCLI models the mariadb 10.11 client (MariaDB Connector/C): clear
// text needs no flag, --ssl is on by default without verification and falls
// back to plain text (PrefersTLS). With --ssl-verify-server-cert it insists
// on TLS (error 2026 "SSL is required, but the server does not support it",
// seen in internal/matrix): set InsistsOnTLS for it.
func MariaDBCLI() Profile {
	p := mariadbConnC("mariadb CLI (Connector/C)")
	p.PrefersTLS = true
	return p
}

// MysqlclientLibmysql models mysqlclient (MySQLdb) built against Oracle's
// libmysqlclient: clear text needs LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1 in
// the environment before the first connection (auth_plugin= does not
// enable it); caching_sha2 without TLS needs server_public_key_path
// (mysqlclient >= 2.2.6).
func MysqlclientLibmysql(envCleartext bool) Profile {
	return libmysqlclient("mysqlclient (libmysqlclient)", envCleartext,
		"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1 in the environment before the first connect",
		"server_public_key_path= (mysqlclient >= 2.2.6)")
}

// MysqlclientMariaDBConnC models mysqlclient built against MariaDB
// Connector/C (Debian's libmariadb-dev): clear text with no opt-in and no TLS
// check (the mysql_clear_password.so plugin must be installed).
func MysqlclientMariaDBConnC() Profile {
	p := mariadbConnC("mysqlclient (MariaDB Connector/C)")
	p.InsistsOnTLS = true // ssl_mode=REQUIRED sets MYSQL_OPT_SSL_ENFORCE
	return p
}

// ConnectorPythonC models mysql-connector-python 8.3 (checked with 26.10 in
// internal/matrix) with its C extension (the default): libmysqlclient rules;
// clear text is enabled by auth_plugin='mysql_clear_password' or
// LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1; no RSA key retrieval for
// caching_sha2_password (error 2061), but sha256_password fetches the key. Set ClearTextOptIn (and FirstPlugin) when the
// application passes auth_plugin.
func ConnectorPythonC() Profile {
	p := libmysqlclient("mysql-connector-python (C extension)", false,
		"auth_plugin='mysql_clear_password' or LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1",
		"TLS (the C extension sets no get-server-public-key flag)")
	p.RSA = RSAUnavailable
	p.InsistsOnTLS = false // only with ssl_verify_cert=True
	return p
}

// ConnectorPythonPure models mysql-connector-python 8.3 with use_pure=True:
// clear text needs no opt-in but requires TLS ("mysql_clear_password
// requires SSL"); caching_sha2 full auth without TLS sends the password in
// clear (no RSA), which the server rejects.
func ConnectorPythonPure() Profile {
	return Profile{
		Name:                        "mysql-connector-python (pure)",
		Plugins:                     []string{PluginNative, PluginCachingSHA2, PluginSHA256, PluginClearPassword},
		DefaultPlugin:               PluginNative,
		ClearTextWithoutTLS:         false,
		RSA:                         RSAUnavailable,
		RSAHint:                     "TLS (the pure implementation has no RSA)",
		FullAuthClearTextWithoutTLS: true,
		InsistsOnTLS:                false, // only with ssl_verify_cert=True
	}
}

// MySQL2 models Node's mysql2 >= 3.22 with an ssl object: clear text needs
// enableCleartextPlugin: true (MYSQL_CLEAR_PASSWORD_NOT_ENABLED without it)
// and has no TLS check; the RSA key is requested from the server.
func MySQL2(enableCleartext bool) Profile {
	return Profile{
		Name:                "mysql2",
		Plugins:             []string{PluginCachingSHA2, PluginNative, PluginSHA256, PluginClearPassword},
		DefaultPlugin:       PluginNative,
		ClearTextNeedsOptIn: true,
		ClearTextOptIn:      enableCleartext,
		ClearTextOptInHint:  "enableCleartextPlugin: true (or authPlugins.mysql_clear_password)",
		ClearTextWithoutTLS: true,
		RSA:                 RSARetrieveKey,
		InsistsOnTLS:        true,
	}
}

// ConnectorJ models MySQL Connector/J 8.x/9.x with sslMode=REQUIRED or
// stricter: clear text is always loaded but requires TLS; without TLS
// caching_sha2 needs allowPublicKeyRetrieval=true ("Public Key Retrieval is
// not allowed").
func ConnectorJ(allowPublicKeyRetrieval bool) Profile {
	p := Profile{
		Name:                "MySQL Connector/J",
		Plugins:             []string{PluginNative, PluginCachingSHA2, PluginSHA256, PluginClearPassword},
		DefaultPlugin:       PluginNative,
		ClearTextWithoutTLS: false,
		RSA:                 RSAPinnedKeyOnly,
		RSAHint:             "allowPublicKeyRetrieval=true (or serverRSAPublicKeyFile)",
		InsistsOnTLS:        true,
	}
	if allowPublicKeyRetrieval {
		p.RSA = RSARetrieveKey
	}
	return p
}
