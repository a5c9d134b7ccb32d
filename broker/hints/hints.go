// Package hints renders, per client library, the exact connect options an
// application needs to take the right authentication path to an endpoint:
// option names as the driver spells them, a DSN where the driver uses one,
// environment variables, packages, minimum versions and warnings.
//
// Hints are safe by construction: wherever a token or a clear-text password
// is sent, the options verify the server's certificate and host name. The
// facts behind each renderer are in shared/reference/DRIVERS.md and are
// checked by tests in which the real driver connects with only these hints.
package hints

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/connbroker/connbroker/broker/config"
)

// Placeholders that clients substitute in option values and DSNs.
const (
	// CAFile stands for the path of a file holding the TLS CA bundle (or the
	// system bundle when the broker sends none).
	CAFile = "{ca_file}"
	// Password stands for the secret inside a DSN, escaped as that DSN
	// format requires (URL-escaped in URLs, verbatim for go-sql-driver).
	Password = "{password}"
)

// Plugins the hints know about.
const (
	PluginClearText   = "mysql_clear_password"
	PluginNative      = "mysql_native_password"
	PluginCachingSHA2 = "caching_sha2_password"
	PluginSHA256      = "sha256_password"
	PluginEd25519     = "client_ed25519"
)

// Input is what a renderer needs to know about an endpoint.
type Input struct {
	// Host and Port are the server address.
	Host string
	Port int
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
func (in Input) ClearText() bool { return in.IAM || in.Plugin == PluginClearText }

// EnvVar is an environment variable the client process must set.
type EnvVar struct {
	Name, Value, Reason string
}

// Hints are one driver's options for one endpoint.
type Hints struct {
	// Driver is the canonical driver name.
	Driver string
	// Options are keyword options with the driver's exact names; values are
	// string, int, bool. The secret is never among them.
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

// Renderer renders hints for one driver.
type Renderer interface {
	// Name is the canonical driver name.
	Name() string
	// Render returns the hints for in.
	Render(in Input) Hints
}

// ErrUnknownDriver is returned by For for a driver it does not know. Do
// not retry: pick one of Drivers().
var ErrUnknownDriver = errors.New("unknown driver")

// UnknownDriverError names the driver asked for and the known ones.
type UnknownDriverError struct {
	// Driver is the name asked for.
	Driver string
}

func (e *UnknownDriverError) Error() string {
	return fmt.Sprintf("unknown driver %q; known drivers: %s", e.Driver, strings.Join(Drivers(), ", "))
}

// Unwrap returns ErrUnknownDriver.
func (e *UnknownDriverError) Unwrap() error { return ErrUnknownDriver }

var (
	renderers = map[string]Renderer{}
	aliases   = map[string]string{}
)

func register(r Renderer, alias ...string) {
	renderers[r.Name()] = r
	for _, a := range alias {
		aliases[a] = r.Name()
	}
}

func init() {
	register(pymysql{}, "PyMySQL")
	register(goSQLDriver{}, "go", "go-sql-driver/mysql", "gosqldriver")
	register(mysqlclient{}, "MySQLdb", "mysqldb")
	register(mysqlConnector{}, "mysql.connector", "mysql-connector", "mysql-connector-python-c")
	register(mysqlConnector{pure: true}, "mysql-connector-pure")
	register(aiomysql{})
	register(sqlalchemy{dialect: "pymysql", base: pymysql{}}, "mysql+pymysql")
	register(sqlalchemy{dialect: "mysqldb", base: mysqlclient{}}, "mysql+mysqldb", "sqlalchemy+mysqldb")
	register(sqlalchemy{dialect: "mysqlconnector", base: mysqlConnector{}}, "mysql+mysqlconnector")
	register(mysql2{}, "node-mysql2")
	register(connectorJ{}, "connectorj", "mysql-connector-j", "jdbc")
	register(cli{oracle: true}, "mysql")
	register(cli{}, "mariadb")
}

// For returns the renderer for driver (canonical name or alias, case
// insensitive).
func For(driver string) (Renderer, error) {
	d := strings.ToLower(strings.TrimSpace(driver))
	if r, ok := renderers[d]; ok {
		return r, nil
	}
	for a, n := range aliases {
		if strings.ToLower(a) == d {
			return renderers[n], nil
		}
	}
	return nil, &UnknownDriverError{Driver: driver}
}

// Drivers lists the canonical driver names, sorted.
func Drivers() []string {
	out := make([]string, 0, len(renderers))
	for n := range renderers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
