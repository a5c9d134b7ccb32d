package config

import (
	"fmt"
	"time"
)

// CallLimit bounds one kind of call per caller: a token bucket (Rate per
// second, Burst at once) and a cap on calls of that kind running at once.
// A caller is its identity (mTLS SAN, or uid on the Unix socket) or,
// without one, its peer address (all of loopback counts as one address).
type CallLimit struct {
	// Rate is the sustained number of calls (for validate: endpoint
	// validations) per second one caller may start.
	Rate float64 `yaml:"rate"`
	// Burst is how many calls a caller may start at once above Rate.
	Burst int `yaml:"burst"`
	// Concurrent is how many such calls one caller may have running at
	// once; more are refused with RESOURCE_EXHAUSTED.
	Concurrent int `yaml:"concurrent"`
}

// Default call limits (docs/SECURITY.md, "Limits").
var (
	// DefaultProbeLimit bounds ProbeEndpoint: each probe opens a database
	// connection without logging in.
	DefaultProbeLimit = CallLimit{Rate: 5, Burst: 20, Concurrent: 4}
	// DefaultValidateLimit bounds ValidateConnection. Rate and Burst count
	// endpoints (a request naming 10 endpoints takes 10 tokens); the burst
	// lets a rollout of many pods sharing one identity validate at once
	// (their identical validations share one login).
	DefaultValidateLimit = CallLimit{Rate: 10, Burst: 500, Concurrent: 256}
)

// Other default limits.
const (
	// DefaultWatchStreamsPerCaller caps open WatchConnectionParams streams
	// per caller.
	DefaultWatchStreamsPerCaller = 1000
	// DefaultEndpointConcurrent caps logins and probes running at once
	// against one endpoint, across all callers, so one slow or blackholed
	// endpoint cannot hold every validation slot.
	DefaultEndpointConcurrent = 2
	// DefaultMaxStreamsPerConnection is the HTTP/2 MaxConcurrentStreams
	// of the gRPC server.
	DefaultMaxStreamsPerConnection = 512
	// DefaultMaxConnectionAge is how long a client connection may live
	// before the server asks the client to reconnect (so a client
	// certificate that expired or was revoked stops working).
	DefaultMaxConnectionAge = 30 * time.Minute
	// DefaultMaxConnectionAgeGrace is how long calls on a connection past
	// its age may still run (watch streams then reconnect).
	DefaultMaxConnectionAgeGrace = time.Minute
)

// CallLimits are the per-caller bounds on calls that touch a database or
// hold memory, and the server's connection bounds. They live inline in the
// limits section.
type CallLimits struct {
	// Probe bounds ProbeEndpoint per caller. Default rate 5, burst 20,
	// concurrent 4.
	Probe CallLimit `yaml:"probe"`
	// Validate bounds ValidateConnection per caller. Default rate 10,
	// burst 500 (endpoints), concurrent 256 (calls).
	Validate CallLimit `yaml:"validate"`
	// WatchStreamsPerCaller caps the WatchConnectionParams streams one
	// caller may have open. Default 1000.
	WatchStreamsPerCaller int `yaml:"watch_streams_per_caller"`
	// EndpointConcurrent caps logins and probes running at once against
	// one endpoint, across callers (within validation.max_concurrent).
	// Default 2.
	EndpointConcurrent int `yaml:"endpoint_concurrent"`
	// MaxStreamsPerConnection is the most concurrent calls one client
	// connection may carry (HTTP/2 MaxConcurrentStreams). Default 512.
	// Read at start.
	MaxStreamsPerConnection int `yaml:"max_streams_per_connection"`
	// MaxConnectionAge is how long a client connection may live before it
	// is recycled; a client certificate is checked again on the new
	// connection. Default 30m. Read at start.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// MaxConnectionAgeGrace is how long calls may still finish on a
	// connection past its age before it is closed. Default 1m. Read at
	// start.
	MaxConnectionAgeGrace time.Duration `yaml:"max_connection_age_grace"`
}

// AuditOnError is what the broker does when an audit event cannot be
// written.
type AuditOnError string

// Audit.OnError values.
const (
	// AuditAllow logs the failure, counts it and serves the call.
	AuditAllow AuditOnError = "allow"
	// AuditDeny fails closed: a credential whose issue cannot be audited
	// is not sent, and the caller gets UNAVAILABLE.
	AuditDeny AuditOnError = "deny"
)

func (l *CallLimit) applyDefaults(d CallLimit) {
	if l.Rate == 0 {
		l.Rate = d.Rate
	}
	if l.Burst == 0 {
		l.Burst = d.Burst
	}
	if l.Concurrent == 0 {
		l.Concurrent = d.Concurrent
	}
}

func (c *Config) applyLimitDefaults() {
	l := &c.Limits.CallLimits
	l.Probe.applyDefaults(DefaultProbeLimit)
	l.Validate.applyDefaults(DefaultValidateLimit)
	if l.WatchStreamsPerCaller == 0 {
		l.WatchStreamsPerCaller = DefaultWatchStreamsPerCaller
	}
	if l.EndpointConcurrent == 0 {
		l.EndpointConcurrent = DefaultEndpointConcurrent
	}
	if l.MaxStreamsPerConnection == 0 {
		l.MaxStreamsPerConnection = DefaultMaxStreamsPerConnection
	}
	if l.MaxConnectionAge == 0 {
		l.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if l.MaxConnectionAgeGrace == 0 {
		l.MaxConnectionAgeGrace = DefaultMaxConnectionAgeGrace
	}
	if c.Audit.OnError == "" {
		c.Audit.OnError = AuditAllow
	}
}

func (l CallLimit) validate(path string, d CallLimit) []error {
	var errs []error
	if l.Rate < 0 || l.Rate > 1e6 {
		errs = append(errs, &FieldError{Path: path + ".rate", Problem: fmt.Sprintf("%g is out of range", l.Rate), Fix: fmt.Sprintf("use calls per second per caller, 0.01..1000000 (default %g)", d.Rate)})
	}
	if l.Burst < 0 || l.Burst > 1e6 {
		errs = append(errs, &FieldError{Path: path + ".burst", Problem: fmt.Sprintf("%d is out of range", l.Burst), Fix: fmt.Sprintf("use 1..1000000 (default %d)", d.Burst)})
	}
	if l.Concurrent < 0 || l.Concurrent > 100000 {
		errs = append(errs, &FieldError{Path: path + ".concurrent", Problem: fmt.Sprintf("%d is out of range", l.Concurrent), Fix: fmt.Sprintf("use 1..100000 (default %d)", d.Concurrent)})
	}
	return errs
}

func (c *Config) validateLimits() []error {
	l := c.Limits.CallLimits
	errs := l.Probe.validate("limits.probe", DefaultProbeLimit)
	errs = append(errs, l.Validate.validate("limits.validate", DefaultValidateLimit)...)
	add := func(path, problem, fix string) {
		errs = append(errs, &FieldError{Path: path, Problem: problem, Fix: fix})
	}
	if l.WatchStreamsPerCaller < 0 || l.WatchStreamsPerCaller > 1e6 {
		add("limits.watch_streams_per_caller", fmt.Sprintf("%d is out of range", l.WatchStreamsPerCaller), fmt.Sprintf("use 1..1000000 (default %d)", DefaultWatchStreamsPerCaller))
	}
	if l.EndpointConcurrent < 0 || l.EndpointConcurrent > 256 {
		add("limits.endpoint_concurrent", fmt.Sprintf("%d is out of range", l.EndpointConcurrent), fmt.Sprintf("use 1..256 (default %d)", DefaultEndpointConcurrent))
	}
	if l.MaxStreamsPerConnection < 0 || l.MaxStreamsPerConnection > 1e6 {
		add("limits.max_streams_per_connection", fmt.Sprintf("%d is out of range", l.MaxStreamsPerConnection), fmt.Sprintf("use 1..1000000 (default %d)", DefaultMaxStreamsPerConnection))
	}
	if l.MaxConnectionAge < 0 || (l.MaxConnectionAge > 0 && l.MaxConnectionAge < time.Second) || l.MaxConnectionAge > 7*24*time.Hour {
		add("limits.max_connection_age", fmt.Sprintf("%s is out of range", l.MaxConnectionAge), "use a duration from 1s to 168h (default 30m)")
	}
	if l.MaxConnectionAgeGrace < 0 || l.MaxConnectionAgeGrace > 24*time.Hour {
		add("limits.max_connection_age_grace", fmt.Sprintf("%s is out of range", l.MaxConnectionAgeGrace), "use a duration from 1s to 24h (default 1m)")
	}
	switch c.Audit.OnError {
	case AuditAllow, AuditDeny:
	default:
		add("audit.on_error", fmt.Sprintf("unknown value %q", c.Audit.OnError), "use allow (log and serve) or deny (fail closed)")
	}
	return errs
}
