// Package hints holds the shapes shared by every driver's hints: what a
// renderer needs to know about an endpoint (Input), what it returns (Hints),
// and the placeholders clients substitute. The renderers themselves, with
// everything else the product knows about each driver, are the descriptors
// of package broker/driver (one file per driver); this package stays apart
// so that the server's proto conversion and the clients' tests depend on the
// data shape only, not on the registry.
//
// Hints are safe by construction: wherever a token or a clear-text password
// is sent, the options verify the server's certificate and host name.
package hints

import (
	"net"
	"strconv"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
)

// Placeholders that clients substitute in option values and DSNs.
const (
	// CAFile stands for the path of a file holding the TLS CA bundle (or the
	// system bundle when the broker sends none).
	CAFile = "{ca_file}"
	// Password stands for the secret inside a DSN, escaped as that DSN
	// format requires (URL-escaped in URLs, verbatim for go-sql-driver).
	Password = "{password}"
	// TCPOptionFile stands for the path of a MySQL option file whose
	// [client] group forces TCP: "protocol=TCP" for Oracle's
	// libmysqlclient, "protocol=1" for MariaDB Connector/C (which reads the
	// value as a number and ignores "TCP"). Drivers on these libraries take
	// the host "localhost" to mean the Unix socket; the file makes them use
	// host and port (mysqlclient's read_default_file).
	TCPOptionFile = "{tcp_option_file}"
)

// UnsupportedPrefix starts every warning that says a driver cannot log in to
// the endpoint as configured at all (a missing plugin, a TLS server name it
// cannot check). The compatibility matrix asserts that every combination
// that fails carries such a warning, and that none that works does.
const UnsupportedPrefix = "unsupported: "

// Plugins the hints know about: aliases of broker/handshake's names, the
// one set of protocol constants.
const (
	PluginClearText   = handshake.PluginClearPassword
	PluginNative      = handshake.PluginNative
	PluginCachingSHA2 = handshake.PluginCachingSHA2
	PluginSHA256      = handshake.PluginSHA256
	PluginEd25519     = handshake.PluginEd25519
)

// Input is what a renderer needs to know about an endpoint.
type Input struct {
	// Host and Port are the database's address: the name the IAM token is
	// signed for and, unless ServerName says otherwise, the name its
	// certificate must carry.
	Host string
	Port int
	// Dial, when set, is the "host:port" drivers connect to instead (a
	// tunnel or local proxy, endpoint key dial); TLS still verifies
	// ServerName.
	Dial string
	// User and Database are the login user and default schema.
	User     string
	Database string
	// Plugin is the account's plugin when known ("" when not).
	Plugin string
	// IAM is true when the secret is an IAM token.
	IAM bool
	// TLSMode is the endpoint's TLS mode.
	TLSMode config.TLSMode
	// HasCA is true when the broker sends a CA bundle (else: system roots).
	HasCA bool
	// ServerName is the name the certificate must carry.
	ServerName string
}

// ClearText reports whether the secret travels in clear text inside TLS.
func (in Input) ClearText() bool {
	method := config.AuthPassword
	if in.IAM {
		method = config.AuthIAM
	}
	return config.ClearText(method, in.Plugin)
}

// ConnectHost is the host drivers connect to: Dial's host when set, else
// Host.
func (in Input) ConnectHost() string {
	if h, _, ok := in.dial(); ok {
		return h
	}
	return in.Host
}

// ConnectPort is the port drivers connect to: Dial's port when set, else
// Port.
func (in Input) ConnectPort() int {
	if _, p, ok := in.dial(); ok {
		return p
	}
	return in.Port
}

// ConnectAddr is ConnectHost:ConnectPort (IPv6 in brackets).
func (in Input) ConnectAddr() string {
	return net.JoinHostPort(in.ConnectHost(), strconv.Itoa(in.ConnectPort()))
}

// VerifyName is the name a verifying driver must check the certificate
// against: ServerName, else Host.
func (in Input) VerifyName() string {
	if in.ServerName != "" {
		return in.ServerName
	}
	return in.Host
}

// NameDiffers reports whether the certificate's name differs from the host
// drivers connect to, so that a driver which checks the name against its
// connect host (most do) would refuse the server.
func (in Input) NameDiffers() bool { return in.VerifyName() != in.ConnectHost() }

func (in Input) dial() (string, int, bool) {
	if in.Dial == "" {
		return "", 0, false
	}
	h, ps, err := net.SplitHostPort(in.Dial)
	if err != nil {
		return "", 0, false
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, false
	}
	return h, p, true
}

// EnvVar is an environment variable the client process must set.
type EnvVar struct {
	Name, Value, Reason string
}

// Hints are one driver's options for one endpoint.
type Hints struct {
	// Driver is the canonical driver name.
	Driver string
	// Options are keyword options with the driver's exact names; values are
	// string, int, bool or a nested map of those. The secret is never among
	// them.
	Options map[string]any
	// SecretOption names the option that takes the secret.
	SecretOption string
	// DSN is the DSN/URL with Password and CAFile placeholders, if any.
	DSN string
	// Env lists variables to set before the first connection.
	Env []EnvVar
	// Packages lists packages the client must have.
	Packages []string
	// Warnings are cautions for a person; never a secret.
	Warnings []string
	// MinVersion is the lowest driver version known to work.
	MinVersion string
}
