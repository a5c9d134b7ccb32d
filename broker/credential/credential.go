// Package credential issues the secrets the broker hands out: RDS IAM
// authentication tokens (signed locally, cached and refreshed ahead of
// expiry) and passwords read from files or environment variables.
//
// A [Secret] never prints itself: String, GoString, Format and LogValue all
// return a redacted form. Call [Secret.Reveal] only where the value must
// leave the process (the gRPC response, a driver's connect call).
package credential

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/safefile"
)

// Kind is the kind of secret a credential carries.
type Kind int

// Credential kinds.
const (
	// KindPassword is a static or rotated password.
	KindPassword Kind = iota + 1
	// KindIAMToken is an RDS IAM authentication token.
	KindIAMToken
)

func (k Kind) String() string {
	switch k {
	case KindPassword:
		return "password"
	case KindIAMToken:
		return "iam-token"
	}
	return "unknown"
}

// Redacted is what a Secret prints instead of itself.
const Redacted = "[REDACTED]"

// Secret is a password or token that refuses to be printed or logged.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value. Use it only to hand the secret to its
// consumer, never to log or format it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether the secret is empty.
func (s Secret) Empty() bool { return s.v == "" }

// String returns a redacted form.
func (s Secret) String() string { return Redacted }

// GoString returns a redacted form for %#v.
func (s Secret) GoString() string { return Redacted }

// Format prints a redacted form for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue returns a redacted form for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText returns a redacted form, so encoders never leak the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Credential is a secret with its validity.
type Credential struct {
	// Kind is the kind of secret.
	Kind Kind
	// Secret is the value.
	Secret Secret
	// ExpiresAt is when new logins stop accepting it; zero if unknown.
	ExpiresAt time.Time
	// RefreshAfter is when a caller should ask for a fresh one; zero if never.
	RefreshAfter time.Time
	// Source says where it came from, e.g. "iam", "file:/run/x", "env:X".
	Source string
	// Stale is set when a cached credential is served because its source
	// failed; the caller should warn.
	Stale bool
	// Cached is set when the issuer served it from its cache (a fresh IAM
	// token, a secret within secret_ttl, an unchanged password file)
	// without signing or reading the secret again.
	Cached bool
}

// Issuer produces a credential for an endpoint.
type Issuer interface {
	// Issue returns a credential for ep. Errors matching ErrUnavailable
	// mean the source failed and nothing valid is cached: retry later.
	Issue(ctx context.Context, ep *config.Endpoint) (Credential, error)
}

// ErrUnavailable means no valid credential could be had from the source.
// The caller may retry after a backoff.
var ErrUnavailable = errors.New("credential unavailable")

// SourceError says which source failed and why; it matches ErrUnavailable.
// Its message never contains a secret.
type SourceError struct {
	// Endpoint is the endpoint name.
	Endpoint string
	// Source describes the source, e.g. "iam" or "file:/path".
	Source string
	// Err is the cause.
	Err error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("endpoint %q: credential from %s: %v", e.Endpoint, e.Source, e.Err)
}

// Unwrap returns ErrUnavailable and the cause.
func (e *SourceError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Router issues through the issuer that matches each endpoint's auth method.
type Router struct {
	// IAM issues IAM tokens.
	IAM Issuer
	// Password issues passwords from files and environment variables.
	Password Issuer
	// Secrets issues passwords from AWS Secrets Manager; nil refuses
	// endpoints that use it.
	Secrets Issuer
}

// Issue dispatches on ep.Auth.
func (r *Router) Issue(ctx context.Context, ep *config.Endpoint) (Credential, error) {
	switch ep.Auth {
	case config.AuthIAM:
		if r.IAM == nil {
			return Credential{}, &SourceError{Endpoint: ep.Name, Source: "iam", Err: errors.New("IAM issuer not configured")}
		}
		return r.IAM.Issue(ctx, ep)
	case config.AuthPassword:
		if ep.Password != nil && ep.Password.SecretsManager != "" {
			if r.Secrets == nil {
				return Credential{}, &SourceError{Endpoint: ep.Name, Source: "secretsmanager", Err: errors.New("no secrets manager issuer configured")}
			}
			return r.Secrets.Issue(ctx, ep)
		}
		return r.Password.Issue(ctx, ep)
	}
	return Credential{}, &SourceError{Endpoint: ep.Name, Source: string(ep.Auth), Err: errors.New("unknown auth method")}
}

// Invalidate drops what the password issuer cached for ep, so the next
// Issue re-reads its source (used after a 1045, in case of rotation).
func (r *Router) Invalidate(ep *config.Endpoint) {
	for _, iss := range []Issuer{r.Password, r.Secrets} {
		if p, ok := iss.(interface{ Invalidate(*config.Endpoint) }); ok {
			p.Invalidate(ep)
		}
	}
}

// PendingIssuer is an issuer that can see a rotation in progress
// (*Secrets, and *Router for the endpoints it routes to one).
type PendingIssuer interface {
	// Pending returns the value a rotation in progress has written but not
	// yet made current; ok false when there is none.
	Pending(ctx context.Context, ep *config.Endpoint) (cred Credential, ok bool, err error)
	// Adopt hands out cred for ep until its cache entry expires.
	Adopt(ep *config.Endpoint, cred Credential)
}

// Pending asks the Secrets Manager issuer when ep reads its password from
// Secrets Manager; ok false otherwise.
func (r *Router) Pending(ctx context.Context, ep *config.Endpoint) (Credential, bool, error) {
	if p, ok := r.pendingFor(ep); ok {
		return p.Pending(ctx, ep)
	}
	return Credential{}, false, nil
}

// Adopt passes cred to the Secrets Manager issuer of ep.
func (r *Router) Adopt(ep *config.Endpoint, cred Credential) {
	if p, ok := r.pendingFor(ep); ok {
		p.Adopt(ep, cred)
	}
}

func (r *Router) pendingFor(ep *config.Endpoint) (PendingIssuer, bool) {
	if ep.Auth != config.AuthPassword || ep.Password == nil || ep.Password.SecretsManager == "" {
		return nil, false
	}
	p, ok := r.Secrets.(PendingIssuer)
	return p, ok
}

// SourceKind is the kind of the credential's source without its detail:
// "file", "env", "secretsmanager" or "iam". A path or a secret ARN is for
// the broker's log, not for callers.
func (c Credential) SourceKind() string { return sourceKind(c.Source) }

func sourceKind(src string) string {
	k, _, _ := strings.Cut(src, ":")
	return k
}

// SafeMessage is the error's message for a caller: the endpoint, the
// source's kind and a coarse reason (an AWS error code, "not found",
// "permission denied"), never a role ARN, an account id, a secret ARN or a
// file path. Log the full error (err.Error()) beside it.
func (e *SourceError) SafeMessage() string {
	msg := fmt.Sprintf("endpoint %q: credential from %s is unavailable", e.Endpoint, sourceKind(e.Source))
	if r := safeReason(e.Err); r != "" {
		msg += " (" + r + ")"
	}
	return msg + "; the broker's log has the details"
}

// SafeMessage returns the caller-safe message of a credential error: the
// SourceError's SafeMessage, or a generic one.
func SafeMessage(err error) string {
	var se *SourceError
	if errors.As(err, &se) {
		return se.SafeMessage()
	}
	return "credential unavailable; the broker's log has the details"
}

// safeReason names the class of a source failure without its text.
func safeReason(err error) string {
	var api smithy.APIError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &api):
		return "AWS error " + api.ErrorCode()
	case errors.Is(err, fs.ErrNotExist):
		return "not found"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, safefile.ErrNotRegular):
		return "not a regular file"
	case errors.Is(err, safefile.ErrTooLarge):
		return "file too large"
	}
	return ""
}
