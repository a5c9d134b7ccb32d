// Package caller carries the identity of whoever called the broker as a
// plain value in a context, so the domain can authorise and audit without
// knowing about gRPC or TLS. Package server fills it in from the peer's
// client certificate.
package caller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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

// FromUID returns the identity of a Unix socket peer with user id uid.
func FromUID(uid uint32) Identity { return Identity{Name: fmt.Sprintf("uid:%d", uid), Kind: KindUnix} }

// Identity is an authenticated caller.
type Identity struct {
	// Name is the identity matched against the policy, e.g.
	// "spiffe://prod/ns/orders/sa/api" or "api.orders.svc".
	Name string
	// Kind says which certificate field Name came from.
	Kind Kind
}

// String returns the name.
func (i Identity) String() string { return i.Name }

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
// subject common name is never used. Names that are empty, longer than
// MaxNameLen, not UTF-8, or that hold control characters or spaces are
// skipped.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("read client certificate: %w", ErrNoIdentity)
	}
	for _, u := range cert.URIs {
		if u == nil {
			continue
		}
		if n := u.String(); validName(n) {
			return Identity{Name: n, Kind: KindURI}, nil
		}
	}
	for _, d := range cert.DNSNames {
		if n := strings.ToLower(d); validName(n) {
			return Identity{Name: n, Kind: KindDNS}, nil
		}
	}
	return Identity{}, fmt.Errorf("read client certificate: %w", ErrNoIdentity)
}

// validName reports whether n can serve as an identity name.
func validName(n string) bool {
	if n == "" || len(n) > MaxNameLen || !utf8.ValidString(n) {
		return false
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
