package dbtls

import (
	"crypto/sha256"
	"crypto/tls"
	"sync"

	"github.com/connbroker/connbroker/broker/config"
)

// Sessions holds the TLS sessions of one request's logins (one
// ValidateConnection), so that the request's first login to a server does
// the full, verified handshake and its later logins to the same server
// with the same TLS settings resume that session: an abbreviated handshake
// that skips the certificate chain and the server's signature and costs
// about half the CPU of a full one (BENCHMARKS.md, validate-fleet).
//
// crypto/tls keys its client cache by server name alone (or the address
// without one), and what it checks on resumption depends on the config:
// without InsecureSkipVerify (verify-identity) it checks the cached leaf's
// expiry and name and that one of the session's verified chains ends in
// the config's RootCAs (go1.26); with InsecureSkipVerify (verify-ca,
// required, preferred) only the leaf's expiry. Sharing one cache between
// logins with different trust settings could therefore hand a verify-ca
// login a session verified against another CA, or a required-mode session
// never verified at all, leaving only VerifyConnection between it and the
// login. Sessions keeps
// one cache per address, TLS mode, CA bundle (its SHA-256) and server
// name, so a session is only resumed by a login whose own full handshake
// would have verified the same thing. VerifyConnection still runs on a
// resumed session (crypto/tls calls it on resumption, with the session's
// certificates; VerifyPeerCertificate it does not, and dbtls does not use
// it): verify-ca's chain check runs again on every resumed login
// (TestResumptionChecks).
//
// A Sessions lives as long as its request and is never shared with
// another: resumption proves that the server holds the keys of a
// handshake verified moments earlier in the same request. The zero value
// is not usable; a nil *Sessions means no resumption. It is safe for
// concurrent use.
type Sessions struct {
	mu sync.Mutex
	m  map[sessionKey]tls.ClientSessionCache
}

// sessionKey names the trust settings a session was verified under.
type sessionKey struct {
	addr, mode, serverName string
	ca                     [sha256.Size]byte
}

// sessionsPerKey is the capacity of each key's cache: crypto/tls keys
// the sessions in it by server name (or address), which one key fixes.
const sessionsPerKey = 2

// NewSessions returns an empty per-request session store.
func NewSessions() *Sessions {
	return &Sessions{m: map[sessionKey]tls.ClientSessionCache{}}
}

// For returns the session cache for logins to addr under mode, caPEM and
// serverName, to set as the login's tls.Config.ClientSessionCache. It
// returns nil (no resumption) when s is nil or mode is disabled.
func (s *Sessions) For(addr string, mode config.TLSMode, caPEM []byte, serverName string) tls.ClientSessionCache {
	if s == nil || mode == config.TLSDisabled {
		return nil
	}
	k := sessionKey{addr: addr, mode: string(mode), ca: sha256.Sum256(caPEM), serverName: serverName}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[k]
	if !ok {
		c = tls.NewLRUClientSessionCache(sessionsPerKey)
		s.m[k] = c
	}
	return c
}
