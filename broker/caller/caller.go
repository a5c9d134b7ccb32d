// Package caller carries the identity of whoever called the broker as a
// plain value in a context, so the domain can authorise and audit without
// knowing about gRPC or TLS. Package server fills it in from the peer's
// client certificate or, on the Unix socket, from the peer's uid.
//
// Every identity carries its kind (URI SAN, DNS SAN, Unix uid), and the
// policy matches the kind as well as the name: a certificate whose URI SAN
// reads "uid:0" is a URI identity and never matches the Unix rule "uid:0".
package caller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Kind says where an identity came from.
type Kind string

// Identity kinds.
const (
	// KindURI is a URI SAN of a client certificate, e.g. a SPIFFE ID.
	KindURI Kind = "uri"
	// KindDNS is a DNS SAN of a client certificate.
	KindDNS Kind = "dns"
	// KindUnix is the uid of a Unix socket peer, named "uid:N".
	KindUnix Kind = "unix"
)

// UIDPrefix starts the name of every KindUnix identity ("uid:1000").
const UIDPrefix = "uid:"

// FromUID returns the identity of a Unix socket peer with user id uid.
func FromUID(uid uint32) Identity {
	return Identity{Name: UIDPrefix + strconv.FormatUint(uint64(uid), 10), Kind: KindUnix}
}

// Identity is an authenticated caller.
type Identity struct {
	// Name is the identity matched against the policy, e.g.
	// "spiffe://prod/ns/orders/sa/api", "api.orders.svc" or "uid:1000".
	Name string
	// Kind says which certificate field (or socket) Name came from.
	Kind Kind
}

// String returns the name.
func (i Identity) String() string { return i.Name }

// Qualified returns the name with its kind, unique across kinds:
// "uri:spiffe://prod/ns/a/sa/b", "dns:api.orders.svc" or "uid:1000". Use it
// wherever identities of different kinds must not collide (rate-limit
// buckets, caches); the policy matches kinds itself.
func (i Identity) Qualified() string {
	if i.Kind == KindUnix {
		return i.Name
	}
	return string(i.Kind) + ":" + i.Name
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller identity in ctx, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// MaxNameLen bounds an identity name; longer SANs are refused.
const MaxNameLen = 512

// ErrNoIdentity means a certificate carries no usable identity. The caller
// should not retry with the same certificate.
var ErrNoIdentity = errors.New("no usable identity in client certificate")

// FromCertificate returns the identity of a verified client certificate:
// its first URI SAN (such as a SPIFFE ID), else its first DNS SAN. The
// subject common name is never used, and a later SAN never stands in for
// an unusable first one: when the first URI SAN (or, without URI SANs, the
// first DNS SAN) is empty, longer than MaxNameLen, not UTF-8, holds
// control characters or spaces, or has ".", ".." or empty path segments,
// the certificate is refused with an error wrapping ErrNoIdentity.
//
// SPIFFE IDs are canonicalised (scheme and trust domain in lower case) and
// must be valid SPIFFE IDs; other URIs get a lower-case scheme and host.
// DNS names are lower-cased.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("read client certificate: %w", ErrNoIdentity)
	}
	if len(cert.URIs) > 0 {
		name, err := canonicalURI(cert.URIs[0])
		if err != nil {
			return Identity{}, fmt.Errorf("read client certificate: first URI SAN: %w: %w", err, ErrNoIdentity)
		}
		return Identity{Name: name, Kind: KindURI}, nil
	}
	if len(cert.DNSNames) > 0 {
		n := strings.ToLower(cert.DNSNames[0])
		err := checkName(n)
		if err == nil && strings.ContainsAny(n, ":/") {
			err = errors.New("holds ':' or '/', which no host name has")
		}
		if err != nil {
			return Identity{}, fmt.Errorf("read client certificate: first DNS SAN: %w: %w", err, ErrNoIdentity)
		}
		return Identity{Name: n, Kind: KindDNS}, nil
	}
	return Identity{}, fmt.Errorf("read client certificate: no URI or DNS SAN: %w", ErrNoIdentity)
}

// canonicalURI returns the canonical form of a URI SAN, or why it cannot
// be an identity.
func canonicalURI(u *url.URL) (string, error) {
	if u == nil {
		return "", errors.New("empty")
	}
	c := *u
	c.Scheme, c.Host = strings.ToLower(c.Scheme), strings.ToLower(c.Host)
	n := c.String()
	if err := checkName(n); err != nil {
		return "", err
	}
	if c.Scheme == "" {
		return "", errors.New("not an absolute URI")
	}
	if c.Scheme == "spiffe" {
		id, err := spiffeid.FromString(n)
		if err != nil {
			return "", fmt.Errorf("not a valid SPIFFE ID: %w", err)
		}
		return id.String(), nil
	}
	// Policies match "/"-separated segments: a path with "." or ".."
	// (also percent-encoded) or empty segments could climb out of the
	// prefix a rule grants.
	if c.Opaque == "" && c.Path != "" {
		for _, p := range []string{c.Path, c.EscapedPath()} {
			for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
				if err := checkSegment(seg); err != nil {
					return "", err
				}
			}
		}
	}
	if strings.Contains(strings.ToLower(n), "%2e") || strings.Contains(strings.ToLower(n), "%2f") {
		return "", errors.New("percent-encoded '.' or '/' in the path")
	}
	return n, nil
}

func checkSegment(seg string) error {
	switch seg {
	case "":
		return errors.New("empty path segment")
	case ".", "..":
		return fmt.Errorf("%q path segment", seg)
	}
	return nil
}

// checkName says why n cannot serve as an identity name, if it cannot.
func checkName(n string) error {
	switch {
	case n == "":
		return errors.New("empty")
	case len(n) > MaxNameLen:
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(n):
		return errors.New("not UTF-8")
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f {
			return errors.New("holds a space or control character")
		}
	}
	return nil
}
