// Package config loads and validates the connbroker configuration file.
//
// The file is YAML. Unknown keys are errors, so a typo never passes
// silently. [Config.Validate] reports every problem at once, each naming the
// field path (e.g. "endpoints.orders.port") and the fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/policy"
	"github.com/connbroker/connbroker/broker/rdshost"
	"github.com/connbroker/connbroker/broker/safefile"
)

// DefaultListen is the gRPC listen address used when none is configured.
const DefaultListen = "127.0.0.1:7700"

// DefaultPort is the MySQL port used when an endpoint has none.
const DefaultPort = 3306

// Config is the whole broker configuration.
type Config struct {
	// Listen is the gRPC listen address, host:port. Default DefaultListen.
	Listen string `yaml:"listen"`
	// Insecure allows a listen address off loopback without server TLS.
	Insecure bool `yaml:"insecure"`
	// TLS is the server's own TLS; a client CA turns on mTLS.
	TLS ServerTLS `yaml:"tls"`
	// Log configures the broker's structured logs.
	Log Log `yaml:"log"`
	// Validation bounds ValidateConnection.
	Validation Validation `yaml:"validation"`
	// Metrics is the Prometheus /metrics listener; off when Listen is empty.
	Metrics Metrics `yaml:"metrics"`
	// Endpoints are the named databases, keyed by name.
	Endpoints EndpointMap `yaml:"endpoints"`
	// IAM tunes IAM token signing for every iam endpoint.
	IAM IAMSettings `yaml:"iam"`
	// AWS tunes the AWS API evidence source (see package broker/awsapi
	// and docs/AWS.md).
	AWS AWSSettings `yaml:"aws"`
	// Policy says which caller may get which endpoint (see package
	// policy). With tls.client_ca set, a caller no rule allows is denied.
	Policy []policy.Rule `yaml:"policy"`
	// Audit configures the audit trail of issued credentials, validations
	// and denials.
	Audit Audit `yaml:"audit"`
	// Limits bounds how fast one caller may obtain credentials.
	Limits Limits `yaml:"limits"`
	// Watch tunes WatchConnectionParams streams.
	Watch Watch `yaml:"watch"`
	// Unix is an optional Unix socket listener whose callers are
	// identified by their uid (SO_PEERCRED).
	Unix UnixListener `yaml:"unix"`
	// Discovery creates endpoints from tagged cloud resources (see
	// discovery.go and docs/AWS.md).
	Discovery Discovery `yaml:"discovery"`
	// Inventory records which applications use which endpoint
	// (inventory.go, docs/INVENTORY.md); off unless configured.
	Inventory Inventory `yaml:"inventory"`
}

// IAMSettings tune IAM token signing.
type IAMSettings struct {
	// RefreshAfter is how long after signing a cached token is replaced by
	// a fresh one (tokens are valid 15 minutes). Zero means the default,
	// 10 minutes; allowed: 1s to 14m. Read at start: a reload does not
	// change it.
	RefreshAfter time.Duration `yaml:"refresh_after"`
}

// Bounds of IAMSettings.RefreshAfter.
const (
	MinIAMRefreshAfter = time.Second
	MaxIAMRefreshAfter = 14 * time.Minute
)

// AWSSettings tune the AWS API evidence source: Describe* calls that say
// what an RDS endpoint is (IAM enabled, proxy Auth, RequireTLS, target
// health), read for auth: auto and diagnosis, never on the cached
// GetConnectionParams path. Read at start: a reload does not change it.
type AWSSettings struct {
	// EndpointURL points every AWS client (RDS, IAM, STS, Secrets
	// Manager) at an emulator such as moto, e.g. http://127.0.0.1:5000.
	// Empty uses the real AWS endpoints.
	EndpointURL string `yaml:"endpoint_url"`
	// Timeout bounds one lookup (all its calls). Zero means 5s; allowed
	// 100ms to 1m.
	Timeout time.Duration `yaml:"timeout"`
	// CacheTTL is how long AWS facts about an address are reused. Zero
	// means 5m; allowed 1s to 24h.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// ServerTLS is the broker's own TLS certificate and optional client CA.
type ServerTLS struct {
	// Cert is the PEM certificate file.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file.
	Key string `yaml:"key"`
	// ClientCA is a PEM CA file; when set, clients must present a
	// certificate signed by it (mTLS).
	ClientCA string `yaml:"client_ca"`
}

// Enabled reports whether server TLS is configured.
func (t ServerTLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Validation bounds real logins made by ValidateConnection.
type Validation struct {
	// Timeout bounds one endpoint's validation. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent caps validations running at once. Default 4.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// AuthMethod is how the broker obtains an endpoint's credential.
type AuthMethod string

// Auth methods.
const (
	// AuthIAM signs an RDS IAM authentication token.
	AuthIAM AuthMethod = "iam"
	// AuthPassword reads a password from a file or environment variable.
	AuthPassword AuthMethod = "password"
	// AuthAuto resolves iam or password per endpoint from evidence (the
	// account's plugin read through Diagnostic, the host name, the
	// greeting); see package broker/resolve.
	AuthAuto AuthMethod = "auto"
)

// TLSMode is how strictly the database connection uses TLS.
type TLSMode string

// TLS modes, weakest first.
const (
	TLSDisabled       TLSMode = "disabled"
	TLSPreferred      TLSMode = "preferred"
	TLSRequired       TLSMode = "required"
	TLSVerifyCA       TLSMode = "verify-ca"
	TLSVerifyIdentity TLSMode = "verify-identity"
)

// Verifies reports whether the mode verifies the server certificate.
func (m TLSMode) Verifies() bool { return m == TLSVerifyCA || m == TLSVerifyIdentity }

// Requires reports whether the mode refuses a connection without TLS.
func (m TLSMode) Requires() bool { return m == TLSRequired || m.Verifies() }

// CASystem is the TLS.CA value that selects the system trust store.
const CASystem = "system"

// Endpoint is one named database.
type Endpoint struct {
	// Name is the endpoint's key in the endpoints map (set by Load).
	Name string `yaml:"-"`
	// Host is the server host name or IP. Required.
	Host string `yaml:"host"`
	// Port is the server port. Default 3306.
	Port int `yaml:"port"`
	// Dial, when set, is the HOST:PORT drivers, the validator and the
	// prober connect to instead of host:port: a tunnel, an SSM/SSH port
	// forward or a local proxy. The IAM token is still signed for
	// host:port and TLS still verifies host (or tls.server_name).
	Dial string `yaml:"dial"`
	// User is the database user. Required.
	User string `yaml:"user"`
	// Database is the default schema; optional.
	Database string `yaml:"database"`
	// Auth is iam, password or auto (resolved per endpoint from evidence:
	// see package broker/resolve). Required.
	Auth AuthMethod `yaml:"auth"`
	// Plugin is the account's authentication plugin when known, e.g.
	// caching_sha2_password or client_ed25519. IAM implies
	// mysql_clear_password.
	Plugin string `yaml:"plugin"`
	// Region is the AWS region for IAM tokens. Default: parsed from an
	// RDS host name.
	Region string `yaml:"region"`
	// RoleARN is an AWS IAM role to assume (STS) to sign this endpoint's
	// IAM tokens; empty uses the broker's own credentials.
	RoleARN string `yaml:"role_arn"`
	// Password is where a password comes from (auth: password).
	Password *PasswordSource `yaml:"password"`
	// TLS is how the database connection uses TLS.
	TLS EndpointTLS `yaml:"tls"`
	// AWSAPI turns the AWS API evidence source on or off for this
	// endpoint. Unset means on for RDS host names (when the broker has AWS
	// credentials) and off otherwise.
	AWSAPI *bool `yaml:"aws_api"`
	// Source says where the endpoint comes from: empty for the
	// configuration file, "aws:" and the resource ARN for one created by
	// discovery. Not read from YAML.
	Source string `yaml:"-"`
	// Diagnostic is an optional account the broker uses only to read the
	// login user's plugin (SELECT user, host, plugin FROM mysql.user) for
	// auth: auto and diagnosis. It needs SELECT on mysql.user.
	Diagnostic *DiagnosticAccount `yaml:"diagnostic"`
}

// DiagnosticAccount is a read-only account for resolving an endpoint's
// auth method.
type DiagnosticAccount struct {
	// User is the diagnostic account's user name. Required.
	User string `yaml:"user"`
	// Password is where its password comes from. Required.
	Password *PasswordSource `yaml:"password"`
}

// UsesAWSAPI reports whether the AWS API evidence source applies to e:
// aws_api when set, else whether the host is an RDS host name.
func (e *Endpoint) UsesAWSAPI() bool {
	if e.AWSAPI != nil {
		return *e.AWSAPI
	}
	_, ok := rdshost.Parse(e.Host)
	return ok
}

// ClearText reports whether the endpoint's secret travels in clear text
// (inside TLS): IAM tokens always do, and so does a password for a
// mysql_clear_password account. Drivers must opt in to clear text for it.
func (e *Endpoint) ClearText() bool { return ClearText(e.Auth, e.Plugin) }

// ClearText reports whether a login with method and client plugin sends
// the secret in clear text (inside TLS): the one test behind
// Endpoint.ClearText, hints.Input.ClearText and a resolution's
// TLSRequired.
func ClearText(method AuthMethod, plugin string) bool {
	return method == AuthIAM || plugin == handshake.PluginClearPassword
}

// Addr returns host:port: the database's own address (what IAM tokens
// are signed for).
func (e *Endpoint) Addr() string { return net.JoinHostPort(e.Host, fmt.Sprint(e.Port)) }

// DialAddr returns where to connect: Dial when set, else Addr.
func (e *Endpoint) DialAddr() string {
	if e.Dial != "" {
		return e.Dial
	}
	return e.Addr()
}

// PasswordSource names exactly one place to read a password from.
type PasswordSource struct {
	// File is a file whose content (trailing newline trimmed) is the password.
	File string `yaml:"file"`
	// Env is an environment variable holding the password.
	Env string `yaml:"env"`
	// SecretsManager is an AWS Secrets Manager secret ARN or name; its
	// AWSCURRENT version is read (RDS-managed JSON with a "password" key,
	// or the plain password).
	SecretsManager string `yaml:"secretsmanager"`
	// SecretTTL is how long a Secrets Manager value is cached. Default 5m.
	SecretTTL time.Duration `yaml:"secret_ttl"`
}

// EndpointTLS configures TLS to the database.
type EndpointTLS struct {
	// Mode is disabled, preferred, required, verify-ca or verify-identity.
	// Default verify-identity.
	Mode TLSMode `yaml:"mode"`
	// CA is "system" or a PEM file of CA certificates. Default system.
	CA string `yaml:"ca"`
	// ServerName is the name to verify the certificate against. Default Host.
	ServerName string `yaml:"server_name"`
	// CAPEM is the CA bundle read from CA (set by Load; empty for system).
	CAPEM []byte `yaml:"-"`
}

// FieldError is one configuration problem: where, what, and how to fix it.
type FieldError struct {
	// Path is the field path, e.g. "endpoints.orders.port".
	Path string
	// Problem says what is wrong.
	Problem string
	// Fix says what to do.
	Fix string
}

func (e *FieldError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("%s: %s", e.Path, e.Problem)
	}
	return fmt.Sprintf("%s: %s (fix: %s)", e.Path, e.Problem, e.Fix)
}

// ErrInvalid marks every configuration error; test with errors.Is. A
// caller should not retry: the file must be fixed.
var ErrInvalid = errors.New("invalid configuration")

// Error is the set of problems found in a configuration file.
type Error struct {
	// Source is the file name, or "<input>".
	Source string
	// Problems are the individual errors, in field order.
	Problems []error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Source, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems and ErrInvalid.
func (e *Error) Unwrap() []error { return append([]error{ErrInvalid}, e.Problems...) }

// Load reads, decodes strictly, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, _, err := safefile.Read(path, MaxConfigFile)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a configuration. Relative file
// paths inside it are taken as they are (relative to the working directory).
func Parse(source string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{Source: source, Problems: []error{decodeProblem(err)}}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.Source = source
		}
		return nil, err
	}
	return &c, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// decodeProblem turns a yaml error into a FieldError with a fix.
func decodeProblem(err error) error {
	msg := err.Error()
	if m := yamlLine.FindAllStringSubmatch(msg, -1); len(m) > 0 {
		var parts []string
		for _, g := range m {
			parts = append(parts, fmt.Sprintf("unknown key %q at line %s (in %s)", g[2], g[1], strings.ToLower(g[3])))
		}
		return &FieldError{Path: "<yaml>", Problem: strings.Join(parts, "; "), Fix: "remove the key or correct its spelling; see docs/CONFIGURATION.md"}
	}
	return &FieldError{Path: "<yaml>", Problem: strings.TrimPrefix(msg, "yaml: "), Fix: "correct the YAML syntax or value type"}
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Validation.Timeout == 0 {
		c.Validation.Timeout = 10 * time.Second
	}
	if c.Validation.MaxConcurrent == 0 {
		c.Validation.MaxConcurrent = 4
	}
	c.applySecurityDefaults()
	c.applyLimitDefaults() // limits.go
	c.applyInventoryDefaults()
	for name, e := range c.Endpoints {
		e.applyDefaults(name)
	}
}

// applyDefaults fills e's unset fields; a nil e is left alone.
func (e *Endpoint) applyDefaults(name string) {
	if e == nil {
		return
	}
	e.Name = name
	if e.Port == 0 {
		e.Port = DefaultPort
	}
	if e.TLS.Mode == "" {
		e.TLS.Mode = TLSVerifyIdentity
	}
	if e.TLS.CA == "" {
		e.TLS.CA = CASystem
	}
	if e.TLS.ServerName == "" {
		e.TLS.ServerName = e.Host
	}
	if e.Auth == AuthIAM && e.Plugin == "" {
		e.Plugin = handshake.PluginClearPassword
	}
	if (e.Auth == AuthIAM || e.Auth == AuthAuto) && e.Region == "" {
		if h, ok := rdshost.Parse(e.Host); ok {
			e.Region = h.Region
		}
	}
}

var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// KnownPlugins are the account plugins an endpoint may declare.
var KnownPlugins = []string{handshake.PluginNative, handshake.PluginCachingSHA2, handshake.PluginSHA256, handshake.PluginClearPassword, handshake.PluginEd25519}

// Validate checks the whole configuration and returns every problem at
// once as an *Error (which matches ErrInvalid), or nil. It also reads CA
// files into EndpointTLS.CAPEM.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, problem, fix string) {
		errs = append(errs, &FieldError{Path: path, Problem: problem, Fix: fix})
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		add("listen", fmt.Sprintf("%q is not host:port", c.Listen), `use e.g. "127.0.0.1:7700"`)
	} else if !isLoopback(host) && !c.TLS.Enabled() && !c.Insecure {
		add("listen", fmt.Sprintf("%q is off loopback and the broker has no server TLS", c.Listen), "set tls.cert and tls.key, or listen on 127.0.0.1, or set insecure: true to accept the risk")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		add("tls", "cert and key must be set together", "set both tls.cert and tls.key, or neither")
	}
	for path, f := range map[string]string{"tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key, "tls.client_ca": c.TLS.ClientCA} {
		if f != "" {
			if _, err := safefile.Check(f, safefile.MaxCABundle); err != nil {
				add(path, fileProblem(f, err), "point it at a readable PEM file")
			}
		}
	}
	if r := c.IAM.RefreshAfter; r != 0 && (r < MinIAMRefreshAfter || r > MaxIAMRefreshAfter) {
		add("iam.refresh_after", fmt.Sprintf("%v is out of range", r), fmt.Sprintf("use a duration from %v to %v (tokens live 15m), or leave it unset for 10m", MinIAMRefreshAfter, MaxIAMRefreshAfter))
	}
	if u := c.AWS.EndpointURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		add("aws.endpoint_url", fmt.Sprintf("%q is not an http(s) URL", u), "use e.g. http://127.0.0.1:5000 (moto) or leave it unset for AWS")
	}
	if d := c.AWS.Timeout; d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
		add("aws.timeout", fmt.Sprintf("%v is out of range", d), "use a duration from 100ms to 1m, or leave it unset for 5s")
	}
	if d := c.AWS.CacheTTL; d != 0 && (d < time.Second || d > 24*time.Hour) {
		add("aws.cache_ttl", fmt.Sprintf("%v is out of range", d), "use a duration from 1s to 24h, or leave it unset for 5m")
	}
	if c.TLS.ClientCA != "" && !c.TLS.Enabled() {
		add("tls.client_ca", "mTLS needs server TLS", "set tls.cert and tls.key as well")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", fmt.Sprintf("unknown level %q", c.Log.Level), "use debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", fmt.Sprintf("unknown format %q", c.Log.Format), "use text or json")
	}
	if c.Validation.Timeout < 0 || c.Validation.Timeout > time.Minute {
		add("validation.timeout", fmt.Sprintf("%s is out of range", c.Validation.Timeout), "use a duration between 1s and 60s, e.g. 10s")
	}
	if c.Validation.MaxConcurrent < 0 || c.Validation.MaxConcurrent > 256 {
		add("validation.max_concurrent", fmt.Sprintf("%d is out of range", c.Validation.MaxConcurrent), "use 1..256")
	}
	errs = append(errs, c.validateMetrics()...)
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateLimits()...)     // limits.go
	errs = append(errs, c.Discovery.validate()...) // discovery.go
	errs = append(errs, c.validateInventory()...)
	if len(c.Endpoints) == 0 && c.Discovery.AWS == nil {
		add("endpoints", "no endpoints are configured", "add at least one endpoint under endpoints:, or turn on discovery:")
	}
	names := make([]string, 0, len(c.Endpoints))
	for n := range c.Endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		errs = append(errs, c.Endpoints[n].validate("endpoints."+n, n)...)
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Source: "<input>", Problems: errs}
}

func (e *Endpoint) validate(p, name string) []error {
	var errs []error
	add := func(field, problem, fix string) {
		errs = append(errs, &FieldError{Path: p + field, Problem: problem, Fix: fix})
	}
	if !endpointName.MatchString(name) {
		add("", "endpoint name must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", "rename the endpoint")
	}
	if e == nil {
		add("", "endpoint is empty", "give it at least host, user and auth")
		return errs
	}
	if e.Host == "" {
		add(".host", "missing", "set the database host name, e.g. orders.cluster-abc.us-west-2.rds.amazonaws.com")
	} else if strings.ContainsAny(e.Host, " /:@?") && net.ParseIP(e.Host) == nil {
		add(".host", fmt.Sprintf("%q is not a host name", e.Host), "give only the host name, without scheme, port or path")
	}
	if e.Port < 1 || e.Port > 65535 {
		add(".port", fmt.Sprintf("%d is out of range", e.Port), "use 1..65535 (MySQL's default is 3306)")
	}
	if e.Dial != "" {
		if problem := dialProblem(e.Dial); problem != "" {
			add(".dial", problem, "give HOST:PORT where the tunnel or proxy listens, e.g. 127.0.0.1:13306 or [::1]:13306 (IPv6 in brackets)")
		}
	}
	if e.User == "" {
		add(".user", "missing", "set the database user name")
	} else if len(e.User) > 80 {
		add(".user", "longer than 80 characters", "use the real MySQL user name")
	}
	if e.Plugin != "" && !slices.Contains(KnownPlugins, e.Plugin) {
		add(".plugin", fmt.Sprintf("unknown plugin %q", e.Plugin), "use one of "+strings.Join(KnownPlugins, ", "))
	}
	switch e.Auth {
	case AuthIAM:
		if e.Password != nil {
			add(".password", "set with auth: iam", "remove password, or use auth: password")
		}
		if e.Region == "" {
			add(".region", fmt.Sprintf("cannot be parsed from host %q", e.Host), "set region, e.g. us-west-2")
		}
		if knownMode(e.TLS.Mode) && !e.TLS.Mode.Verifies() {
			add(".tls.mode", fmt.Sprintf("%q would send an IAM token without verifying the server", e.TLS.Mode), "use verify-identity (or verify-ca)")
		}
		if e.RoleARN != "" && !roleARN.MatchString(e.RoleARN) {
			add(".role_arn", fmt.Sprintf("%q is not an IAM role ARN", e.RoleARN), "use e.g. arn:aws:iam::123456789012:role/connbroker-orders")
		}
		if e.Plugin != handshake.PluginClearPassword {
			add(".plugin", fmt.Sprintf("IAM tokens are sent with mysql_clear_password, not %q", e.Plugin), "remove plugin or set mysql_clear_password")
		}
	case AuthPassword:
		if e.RoleARN != "" {
			add(".role_arn", "set with auth: password", "remove role_arn (it signs IAM tokens), or use auth: iam")
		}
		if e.Region != "" {
			add(".region", "set with auth: password", "remove region, or use auth: iam")
		}
		errs = append(errs, e.Password.validate(p+".password")...)
		if e.Plugin == handshake.PluginClearPassword && knownMode(e.TLS.Mode) && !e.TLS.Mode.Verifies() {
			add(".tls.mode", fmt.Sprintf("%q would send a clear-text password without verifying the server", e.TLS.Mode), "use verify-identity (or verify-ca)")
		}
	case AuthAuto:
		if e.Password != nil {
			errs = append(errs, e.Password.validate(p+".password")...)
		}
		if knownMode(e.TLS.Mode) && !e.TLS.Mode.Verifies() {
			add(".tls.mode", fmt.Sprintf("%q: auth: auto may resolve to IAM, whose token must not go to an unverified server", e.TLS.Mode), "use verify-identity (or verify-ca)")
		}
		if e.Password == nil && e.Region == "" {
			add(".region", fmt.Sprintf("cannot be parsed from host %q, and no password is set", e.Host), "set region (for IAM) or password (for a password account)")
		}
	case "":
		add(".auth", "missing", "set auth: iam, password or auto")
	default:
		add(".auth", fmt.Sprintf("unknown method %q", e.Auth), "use iam, password or auto")
	}
	if d := e.Diagnostic; d != nil {
		if d.User == "" {
			add(".diagnostic.user", "missing", "set the diagnostic account's user name, or remove diagnostic")
		}
		errs = append(errs, d.Password.validate(p+".diagnostic.password")...)
	}
	if !knownMode(e.TLS.Mode) {
		add(".tls.mode", fmt.Sprintf("unknown mode %q", e.TLS.Mode), "use disabled, preferred, required, verify-ca or verify-identity")
	}
	errs = append(errs, e.validateVerifyCA(p)...)
	if e.TLS.CA != CASystem {
		pem, err := readCA(e.TLS.CA) // files.go: bounded, shared
		switch {
		case err != nil:
			add(".tls.ca", fileProblem(e.TLS.CA, err), `point it at a readable PEM file, or use "system"`)
		case !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")):
			add(".tls.ca", fmt.Sprintf("%q holds no PEM certificate", e.TLS.CA), "use a PEM bundle (e.g. the RDS global-bundle.pem)")
		default:
			e.TLS.CAPEM = pem
		}
	}
	return errs
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (s *PasswordSource) validate(p string) []error {
	if s == nil {
		return []error{&FieldError{Path: p, Problem: "missing", Fix: "set password: {file: /run/secrets/NAME}, {env: NAME} or {secretsmanager: ARN}"}}
	}
	if n := btoi(s.File != "") + btoi(s.Env != "") + btoi(s.SecretsManager != ""); n > 1 {
		return []error{&FieldError{Path: p, Problem: "more than one of file, env and secretsmanager is set", Fix: "keep exactly one"}}
	}
	if s.SecretTTL != 0 && s.SecretsManager == "" {
		return []error{&FieldError{Path: p + ".secret_ttl", Problem: "set without secretsmanager", Fix: "remove secret_ttl, or use secretsmanager"}}
	}
	switch {
	case s.SecretsManager != "":
		return validateSecretsManager(p, s)
	case s.File != "":
		if _, err := checkSecretFile(s.File); err != nil { // files.go
			return []error{&FieldError{Path: p + ".file", Problem: fileProblem(s.File, err), Fix: "point it at a regular file holding only the password; create it or fix the path and its permissions"}}
		}
	case s.Env != "":
		if !envName.MatchString(s.Env) {
			return []error{&FieldError{Path: p + ".env", Problem: fmt.Sprintf("%q is not a variable name", s.Env), Fix: "use letters, digits and _"}}
		}
	default:
		return []error{&FieldError{Path: p, Problem: "neither file nor env is set", Fix: "set file: PATH or env: NAME"}}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func knownMode(m TLSMode) bool {
	switch m {
	case TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
		return true
	}
	return false
}

// dialProblem says what is wrong with a dial address, "" when nothing.
func dialProblem(dial string) string {
	h, ps, err := net.SplitHostPort(dial)
	if err != nil {
		return fmt.Sprintf("%q is not HOST:PORT: %v", dial, err)
	}
	if h == "" {
		return fmt.Sprintf("%q has no host", dial)
	}
	if strings.ContainsAny(h, " /:@?") && net.ParseIP(h) == nil {
		return fmt.Sprintf("%q: %q is not a host name", dial, h)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q: port %q is not 1..65535", dial, ps)
	}
	return ""
}
