// Package observe is the broker's one event stream. The domain (package
// broker and below) emits typed events (a credential issued, a
// validation, a denial, a rate limit, a reload, a login-failure report,
// IAM token cache activity) to a [Sink]; the audit log (server.Auditor)
// and the Prometheus metrics (server/metrics) are two sinks of the same
// stream. The transport only adds who asked and from where: the caller
// identity (package caller) and an [Origin] (gRPC method, peer address)
// in the context the events are emitted with.
//
// # Subscribing
//
// A new consumer implements [Sink] (or [Recorder], for simple counters,
// adapted by [FromRecorder]) and subscribes with broker.Service.Subscribe
// before serving; [Fanout] delivers each event to several sinks. Sinks
// run on the request path: they must be safe for concurrent use, cheap,
// and never block. Events never carry a secret.
//
// A sink's error matters only for [CredentialIssued]: a non-nil error
// means the credential must not be handed out (the audit log with
// audit.on_error: deny). Errors for other events are ignored.
package observe

import (
	"context"
	"errors"
	"net"
	"time"
)

// Cache results of [TokenCache].
const (
	// CacheHit means a cached token was fresh and served.
	CacheHit = "hit"
	// CacheMiss means a token had to be signed (none cached, or past refresh_after).
	CacheMiss = "miss"
	// CacheStale means signing failed and a cached, still valid token was served.
	CacheStale = "stale"
)

// Event is one domain event: one of the types of this package.
type Event interface {
	// Name is the event's stable name, e.g. "credential_issued".
	Name() string
}

// Sink consumes events.
type Sink interface {
	// Observe receives one event; ctx carries the caller identity
	// (caller.FromContext) and the [Origin] when the event belongs to a
	// call. See the package doc for what an error means.
	Observe(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to [Sink].
type SinkFunc func(ctx context.Context, e Event) error

// Observe calls f.
func (f SinkFunc) Observe(ctx context.Context, e Event) error { return f(ctx, e) }

// Fanout delivers each event to every sink, in order, and returns their
// errors joined. The zero value delivers nowhere.
type Fanout []Sink

// Observe implements [Sink].
func (f Fanout) Observe(ctx context.Context, e Event) error {
	var errs []error
	for _, s := range f {
		if err := s.Observe(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Origin is where a call came from; the transport puts it in the context.
type Origin struct {
	// Method is the full gRPC method name.
	Method string
	// Peer is the caller's network address; nil when unknown. It is kept
	// as an address (not formatted) so calls nobody audits pay nothing.
	Peer net.Addr
}

// PeerString is the peer address as text, "" when unknown.
func (o Origin) PeerString() string {
	if o.Peer == nil {
		return ""
	}
	return o.Peer.String()
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin in ctx, if any.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// CredentialIssued is a credential about to be handed out, by
// GetConnectionParams or on a watch. A sink error refuses it.
type CredentialIssued struct {
	// Endpoint is the endpoint name; DBUser its database account.
	Endpoint, DBUser string
	// Method is the authentication method used ("iam" or "password",
	// after auth: auto is resolved).
	Method string
	// Kind is "iam-token" or "password".
	Kind string
	// Cached is true when the issuer served it from its cache.
	Cached bool
	// Stale is true when a cached credential is served because its
	// source fails.
	Stale bool
	// ExpiresAt is when the credential expires; zero if unknown.
	ExpiresAt time.Time
	// Watch is true for a credential sent on a watch stream.
	Watch bool
}

// IssueFailed is a request for a credential that ended with Err (not a
// denial: see [Denied]). On a watch it may follow a [CredentialIssued]
// whose send failed.
type IssueFailed struct {
	// Endpoint is the endpoint asked for; DBUser its account, if configured.
	Endpoint, DBUser string
	// Err is the domain error; its message is not safe for callers as is.
	Err error
}

// Validation is one endpoint's result in a validation request.
type Validation struct {
	// Endpoint is the endpoint name; DBUser its account.
	Endpoint, DBUser string
	// OK is the verdict: the login worked.
	OK bool
	// Finding is the first failed stage ("credential", "dial", "tls",
	// "auth", "query", "resolve", "wait", ...) or "" when OK.
	Finding string
	// Reason says why the validation failed, in plain words.
	Reason string
	// Duration is how long this request waited for the result.
	Duration time.Duration
	// Shared is true when the result came from a login run for another
	// request (singleflight), so counting logins should skip it.
	Shared bool
}

// ValidationRefused is a validation request refused as a whole (bad
// arguments, unknown endpoint), before any login.
type ValidationRefused struct {
	// Endpoint is the endpoint the refusal names, if any.
	Endpoint string
	// Err is the domain error.
	Err error
}

// Probe is one ProbeEndpoint call; Err is nil when the probe ran.
type Probe struct {
	// Endpoint is the endpoint probed.
	Endpoint string
	// Err is the domain error, nil on success.
	Err error
}

// Preflight is one Preflight call: what a change would do to the apps
// seen on Endpoint. Err is nil when it ran.
type Preflight struct {
	// Endpoint is the endpoint preflighted; Changes the changes played
	// (KIND=VALUE).
	Endpoint string
	Changes  []string
	// Status is the report's status ("ok", "no-apps-seen",
	// "inventory-incomplete"); Apps how many apps were played; AnyBreaks
	// whether any would break.
	Status    string
	Apps      int
	AnyBreaks bool
	// Err is the domain error, nil on success.
	Err error
}

// Denied is a call refused by the policy (a *broker.DeniedError) or
// because the caller presented no usable identity.
type Denied struct {
	// Endpoint is the endpoint asked for ("*" for all); DBUser its account.
	Endpoint, DBUser string
	// Err says why; errors.Is(Err, caller.ErrNoIdentity) for an
	// unidentified caller.
	Err error
}

// RateLimited is a call refused by a per-caller limit.
type RateLimited struct {
	// Endpoint is the endpoint asked for, if the call names one; DBUser its account.
	Endpoint, DBUser string
	// Err names the limit to raise.
	Err error
}

// LoginFailureReported is one ReportLoginFailure call.
type LoginFailureReported struct {
	// Endpoint is the reported endpoint; DBUser its account.
	Endpoint, DBUser string
	// Driver is the reporting driver; Errno the MySQL error number.
	Driver string
	Errno  uint32
	// Reread and Changed say what the broker did: read the source again,
	// and found a different secret.
	Reread, Changed bool
	// Err is the domain error, nil on success.
	Err error
}

// Reload is one configuration reload attempt.
type Reload struct {
	// OK is true when the new configuration was applied.
	OK bool
	// Changed are the endpoints added, removed or changed, sorted.
	Changed []string
	// Err is why a reload was rejected.
	Err error
}

// TokenCache is one IAM token cache lookup.
type TokenCache struct {
	// Endpoint is the endpoint name.
	Endpoint string
	// Result is CacheHit, CacheMiss or CacheStale.
	Result string
}

// TokenSigned is a freshly signed IAM token now cached for Endpoint.
type TokenSigned struct {
	// Endpoint is the endpoint name.
	Endpoint string
	// ExpiresAt is when the token expires.
	ExpiresAt time.Time
}

// TokenRefreshFailed is one failed IAM token signing.
type TokenRefreshFailed struct {
	// Endpoint is the endpoint name.
	Endpoint string
}

// Name returns "credential_issued".
func (CredentialIssued) Name() string { return "credential_issued" }

// Name returns "issue_failed".
func (IssueFailed) Name() string { return "issue_failed" }

// Name returns "validation".
func (Validation) Name() string { return "validation" }

// Name returns "validation_refused".
func (ValidationRefused) Name() string { return "validation_refused" }

// Name returns "probe".
func (Probe) Name() string { return "probe" }

// Name returns "preflight".
func (Preflight) Name() string { return "preflight" }

// Name returns "denied".
func (Denied) Name() string { return "denied" }

// Name returns "rate_limited".
func (RateLimited) Name() string { return "rate_limited" }

// Name returns "login_failure_reported".
func (LoginFailureReported) Name() string { return "login_failure_reported" }

// Name returns "config_reload".
func (Reload) Name() string { return "config_reload" }

// Name returns "token_cache".
func (TokenCache) Name() string { return "token_cache" }

// Name returns "token_signed".
func (TokenSigned) Name() string { return "token_signed" }

// Name returns "token_refresh_failed".
func (TokenRefreshFailed) Name() string { return "token_refresh_failed" }

// Recorder is a counter-style consumer of the stream, for sinks that only
// count: adapt it with [FromRecorder]. Implementations must be safe for
// concurrent use and cheap. Labels are endpoint names and fixed words,
// never secrets.
type Recorder interface {
	// CredentialIssued counts one credential handed out for endpoint;
	// kind is "iam-token" or "password".
	CredentialIssued(endpoint, kind string)
	// TokenCache counts one IAM token cache lookup with its result
	// (CacheHit, CacheMiss or CacheStale).
	TokenCache(endpoint, result string)
	// TokenRefreshError counts one failed IAM token signing.
	TokenRefreshError(endpoint string)
	// TokenExpiry records when the token now cached for endpoint expires.
	TokenExpiry(endpoint string, expiresAt time.Time)
	// Validation counts one endpoint login. finding is the first failed
	// stage ("credential", "dial", "tls", "auth", "query") or "" when the
	// login worked.
	Validation(endpoint string, ok bool, finding string)
	// ConfigReload counts one configuration reload attempt.
	ConfigReload(ok bool)
}

// FromRecorder returns a Sink that calls r for the events it counts:
// credentials issued, IAM token cache activity, validations that ran a
// login (not [Validation.Shared]) and reloads. It never returns an error.
func FromRecorder(r Recorder) Sink { return recorderSink{r} }

type recorderSink struct{ r Recorder }

func (s recorderSink) Observe(_ context.Context, e Event) error {
	switch e := e.(type) {
	case CredentialIssued:
		s.r.CredentialIssued(e.Endpoint, e.Kind)
	case TokenCache:
		s.r.TokenCache(e.Endpoint, e.Result)
	case TokenSigned:
		s.r.TokenExpiry(e.Endpoint, e.ExpiresAt)
	case TokenRefreshFailed:
		s.r.TokenRefreshError(e.Endpoint)
	case Validation:
		if !e.Shared {
			s.r.Validation(e.Endpoint, e.OK, e.Finding)
		}
	case Reload:
		s.r.ConfigReload(e.OK)
	}
	return nil
}

// Nop is a Recorder and a Sink that records nothing.
type Nop struct{}

var (
	_ Recorder = Nop{}
	_ Sink     = Nop{}
)

// Observe does nothing.
func (Nop) Observe(context.Context, Event) error { return nil }

// CredentialIssued does nothing.
func (Nop) CredentialIssued(string, string) {}

// TokenCache does nothing.
func (Nop) TokenCache(string, string) {}

// TokenRefreshError does nothing.
func (Nop) TokenRefreshError(string) {}

// TokenExpiry does nothing.
func (Nop) TokenExpiry(string, time.Time) {}

// Validation does nothing.
func (Nop) Validation(string, bool, string) {}

// ConfigReload does nothing.
func (Nop) ConfigReload(bool) {}
