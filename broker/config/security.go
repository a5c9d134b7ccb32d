package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/policy"
)

// AuditStdout is the Audit.Output value that writes audit events to stdout.
const AuditStdout = "stdout"

// Audit configures the audit trail: one JSON line per credential issued,
// validation run and denial. Secrets are never written.
type Audit struct {
	// Output is "stdout" or an absolute file path (appended to, created
	// with mode 0600). Empty turns the audit trail off.
	Output string `yaml:"output"`
	// OnError is what happens when an audit event cannot be written:
	// "allow" (default) logs the failure and serves the call; "deny" fails
	// closed (see limits.go).
	OnError AuditOnError `yaml:"on_error"`
}

// Default issuance limits per caller.
const (
	DefaultIssueRate  = 100.0
	DefaultIssueBurst = 500
)

// Limits bounds credential issuance per caller. A caller is its identity
// (mTLS) or, without one, its peer IP address.
type Limits struct {
	// IssueRate is the sustained number of GetConnectionParams calls per
	// second one caller may make. Default 100.
	IssueRate float64 `yaml:"issue_rate"`
	// IssueBurst is how many calls a caller may make at once above the
	// rate. Default 500 (a 500-pod rollout sharing one identity gets its first
	// credentials at once).
	IssueBurst int `yaml:"issue_burst"`
	// The fields below are documented in limits.go.
	CallLimits `yaml:",inline"`
}

// IdentitiesInUse reports whether callers are identified (by client
// certificates, or by uid on the Unix socket), in which case the policy is
// enforced and the default is deny, on every listener.
func (c *Config) IdentitiesInUse() bool { return c.TLS.ClientCA != "" || c.Unix.Path != "" }

// UnixListener is a Unix socket for local callers; the caller identity is
// "uid:N", the peer's user id read with SO_PEERCRED.
type UnixListener struct {
	// Path is the absolute socket path; empty means no Unix listener.
	Path string `yaml:"path"`
	// Mode is the socket file mode, "0600" (default: the broker's user
	// only) or "0660" (with Group).
	Mode string `yaml:"mode"`
	// Group is the group that owns the socket (with mode 0660).
	Group string `yaml:"group"`
}

// PolicyOf returns the configured policy.
func (c *Config) PolicyOf() policy.Policy { return policy.Policy{Rules: c.Policy} }

// DefaultWatchPoll is the default Watch.Poll.
const DefaultWatchPoll = 5 * time.Second

// Watch tunes WatchConnectionParams streams.
type Watch struct {
	// Poll is how often a watch re-reads the credential source to notice a
	// rotated secret. Default 5s; 100ms..1m.
	Poll time.Duration `yaml:"poll"`
}

func (c *Config) applySecurityDefaults() {
	if c.Unix.Path != "" && c.Unix.Mode == "" {
		c.Unix.Mode = "0600"
	}
	if c.Watch.Poll == 0 {
		c.Watch.Poll = DefaultWatchPoll
	}
	if c.Limits.IssueRate == 0 {
		c.Limits.IssueRate = DefaultIssueRate
	}
	if c.Limits.IssueBurst == 0 {
		c.Limits.IssueBurst = DefaultIssueBurst
	}
}

func (c *Config) validateSecurity() []error {
	var errs []error
	add := func(path, problem, fix string) {
		errs = append(errs, &FieldError{Path: path, Problem: problem, Fix: fix})
	}
	if len(c.Policy) > 0 && !c.IdentitiesInUse() {
		add("policy", "a policy needs caller identities, which come from client certificates or the Unix socket", "set tls.client_ca (and tls.cert, tls.key) or unix.path, or remove policy")
	}
	if u := c.Unix; u.Path != "" {
		if !filepath.IsAbs(u.Path) || len(u.Path) > 100 {
			add("unix.path", fmt.Sprintf("%q is not an absolute path of at most 100 bytes", u.Path), "use e.g. /run/connbroker/broker.sock")
		}
		switch {
		case u.Mode != "0600" && u.Mode != "0660":
			add("unix.mode", fmt.Sprintf("%q is not allowed", u.Mode), `use "0600" (owner only) or "0660" with unix.group`)
		case u.Mode == "0660" && u.Group == "":
			add("unix.group", "missing with mode 0660", "name the group whose members may connect")
		case u.Mode == "0600" && u.Group != "":
			add("unix.group", "set with mode 0600", `use mode "0660" to let the group connect, or remove group`)
		}
	} else if c.Unix.Mode != "" || c.Unix.Group != "" {
		add("unix.path", "missing while unix.mode or unix.group is set", "set unix.path or remove the unix section")
	}
	for i, r := range c.Policy {
		p := fmt.Sprintf("policy[%d]", i)
		if err := policy.CheckCaller(r.Caller); err != nil {
			add(p+".caller", err.Error(), `use an identity such as "spiffe://prod/ns/orders/sa/api" or a glob such as "spiffe://prod/ns/*/sa/api" (see docs/SECURITY.md)`)
		}
		if len(r.Endpoints) == 0 {
			add(p+".endpoints", "missing", `list the endpoint names this caller may get, e.g. [orders] or ["*"]`)
		}
		for j, e := range r.Endpoints {
			if err := policy.CheckPattern(e); err != nil {
				add(fmt.Sprintf("%s.endpoints[%d]", p, j), err.Error(), "use an endpoint name or a glob such as orders-*")
			}
		}
		for j, u := range r.Users {
			if err := policy.CheckPattern(u); err != nil {
				add(fmt.Sprintf("%s.users[%d]", p, j), err.Error(), "use a database user name or a glob such as app_*")
			}
		}
	}
	if o := c.Audit.Output; o != "" && o != AuditStdout && !filepath.IsAbs(o) {
		add("audit.output", fmt.Sprintf("%q is neither stdout nor an absolute path", o), "use stdout or an absolute file path such as /var/log/connbroker/audit.jsonl")
	}
	if c.Limits.IssueRate < 0 || c.Limits.IssueRate > 1e6 {
		add("limits.issue_rate", fmt.Sprintf("%g is out of range", c.Limits.IssueRate), "use calls per second per caller, 0.01..1000000 (default 100)")
	}
	if c.Watch.Poll < 100*time.Millisecond || c.Watch.Poll > time.Minute {
		add("watch.poll", fmt.Sprintf("%s is out of range", c.Watch.Poll), "use a duration between 100ms and 1m, e.g. 5s")
	}
	if c.Limits.IssueBurst < 0 || c.Limits.IssueBurst > 1e6 {
		add("limits.issue_burst", fmt.Sprintf("%d is out of range", c.Limits.IssueBurst), "use 1..1000000 (default 500)")
	}
	return errs
}

// PolicyRule is one allow rule of the policy section.
type PolicyRule = policy.Rule

// DefaultSecretTTL is how long a Secrets Manager value is cached.
const DefaultSecretTTL = 5 * time.Minute

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

var secretID = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!:-]+$`)

func validateSecretsManager(p string, s *PasswordSource) []error {
	var errs []error
	if len(s.SecretsManager) > 2048 || !secretID.MatchString(s.SecretsManager) {
		errs = append(errs, &FieldError{Path: p + ".secretsmanager", Problem: fmt.Sprintf("%q is not a secret ARN or name", s.SecretsManager), Fix: "use the secret's ARN, e.g. arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!db-abc"})
	}
	if s.SecretTTL < 0 || s.SecretTTL > time.Hour {
		errs = append(errs, &FieldError{Path: p + ".secret_ttl", Problem: fmt.Sprintf("%s is out of range", s.SecretTTL), Fix: "use 0 (default 5m) up to 1h"})
	}
	return errs
}

var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$`)

// ValidEndpointName reports whether name can be an endpoint name: 1-63
// characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit.
func ValidEndpointName(name string) bool { return endpointName.MatchString(name) }

// validateVerifyCA rejects verify-ca with the system trust store: verify-ca
// never checks the host name, so any publicly trusted certificate (anyone
// can get one for their own domain) would receive the secret.
func (e *Endpoint) validateVerifyCA(p string) []error {
	if e.TLS.Mode != TLSVerifyCA || e.TLS.CA != CASystem {
		return nil
	}
	return []error{&FieldError{Path: p + ".tls.ca",
		Problem: `"system" with tls.mode verify-ca: verify-ca does not check the host name, so any publicly trusted certificate would be accepted`,
		Fix:     "use tls.mode verify-identity, or set tls.ca to the private CA bundle that signs only your database servers"}}
}

// SecurityWarning is a configuration that is valid but lets a secret leave
// for a server whose identity is not verified.
type SecurityWarning struct {
	// Path is the field path, e.g. "endpoints.orders.tls.mode".
	Path string
	// Reason says how the secret could leave, in plain words.
	Reason string
}

// String renders the warning as "path: reason".
func (w SecurityWarning) String() string { return w.Path + ": " + w.Reason }

// SecurityWarnings lists, in endpoint order, every endpoint where a secret
// could leave without a verified server: a TLS mode that does not verify
// (applications following the broker's hints send the password to whoever
// answers when the server asks for clear text, sha256_password or
// caching_sha2_password full authentication; the broker's own validator
// withholds it unless plugin allows it), and a configured plugin whose
// every full login reveals the password without verified TLS.
func (c *Config) SecurityWarnings() []SecurityWarning {
	names := make([]string, 0, len(c.Endpoints))
	for n := range c.Endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []SecurityWarning
	for _, n := range names {
		e := c.Endpoints[n]
		if e == nil || e.TLS.Mode.Verifies() {
			continue
		}
		p := "endpoints." + n
		switch e.TLS.Mode {
		case TLSDisabled:
			out = append(out, SecurityWarning{p + ".tls.mode", "disabled: the password can be read by anyone on the path when the server (or an impostor) asks for mysql_clear_password, sha256_password or caching_sha2_password full authentication (RSA to a key the server hands out); the broker's validator refuses those steps (use verify-identity)"})
		case TLSPreferred:
			out = append(out, SecurityWarning{p + ".tls.mode", "preferred: a man in the middle can strip TLS, then ask for the password in clear or RSA-encrypted to its own key; the broker's validator refuses those steps (use verify-identity)"})
		case TLSRequired:
			out = append(out, SecurityWarning{p + ".tls.mode", "required does not verify the certificate: an impostor with any certificate receives the password on caching_sha2_password full authentication, sha256_password or mysql_clear_password; the broker's validator refuses those steps (use verify-identity)"})
		}
		switch e.Plugin {
		case handshake.PluginSHA256, handshake.PluginCachingSHA2, handshake.PluginClearPassword:
			out = append(out, SecurityWarning{p + ".plugin", e.Plugin + " without verified TLS: every full login sends the password in a form the server (whoever answers) can read, and the broker's validator does too because the plugin is configured (use tls.mode verify-identity)"})
		}
	}
	return out
}
