// Package observe is the seam between the broker domain and its metrics:
// the domain reports events to a [Recorder]; the daemon plugs in a
// Prometheus implementation (package metrics), tests and libraries get
// [Nop]. The domain never imports a metrics library.
package observe

import "time"

// Cache results reported to [Recorder.TokenCache].
const (
	// CacheHit means a cached token was fresh and served.
	CacheHit = "hit"
	// CacheMiss means a token had to be signed (none cached, or past refresh_after).
	CacheMiss = "miss"
	// CacheStale means signing failed and a cached, still valid token was served.
	CacheStale = "stale"
)

// Recorder receives the broker's domain events. Implementations must be
// safe for concurrent use and cheap: they run on the request path.
// Labels are endpoint names and fixed words, never secrets.
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
	// Validation counts one endpoint validation. finding is the first
	// failed stage ("credential", "dial", "tls", "auth", "query") or ""
	// when the login worked.
	Validation(endpoint string, ok bool, finding string)
	// ConfigReload counts one configuration reload attempt.
	ConfigReload(ok bool)
}

// Nop is a Recorder that records nothing.
type Nop struct{}

var _ Recorder = Nop{}

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
