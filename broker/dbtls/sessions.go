package dbtls

import (
	"crypto/sha256"
	"crypto/tls"
	"sync"
	"sync/atomic"

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
//
// Sessions also remembers the key exchange group each key's handshakes
// negotiated (Learn), and the later logins offer that group alone
// (Groups): crypto/tls otherwise builds an X25519MLKEM768 key share for
// every ClientHello, 8-14% of a fleet validation's CPU, which a server
// that chose X25519 on a verified handshake moments earlier never uses.
// Offering only what the server just chose takes nothing from the
// handshake: the server would choose the same again, and a server that
// does choose ML-KEM keeps being offered it.
type Sessions struct {
	mu sync.Mutex
	m  map[sessionKey]*Session
}

// Session is what the logins of one request under one key (address, TLS
// mode, CA bundle, server name) share: their session cache and the group
// they negotiated. A login looks it up once (Sessions.For). The methods of
// a nil *Session are those of no resumption.
type Session struct {
	cache tls.ClientSessionCache
	group atomic.Uint32 // a tls.CurveID; 0 until a login's handshake verified
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
	return &Sessions{m: map[sessionKey]*Session{}}
}

// For returns what logins to addr under mode, caPEM and serverName share
// (created on first use); nil (no resumption) when s is nil or mode is
// disabled.
func (s *Sessions) For(addr string, mode config.TLSMode, caPEM []byte, serverName string) *Session {
	if s == nil || mode == config.TLSDisabled {
		return nil
	}
	k := sessionKey{addr: addr, mode: string(mode), ca: sha256.Sum256(caPEM), serverName: serverName}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[k]
	if !ok {
		st = &Session{cache: tls.NewLRUClientSessionCache(sessionsPerKey)}
		s.m[k] = st
	}
	return st
}

// Cache is the session cache to set as the login's
// tls.Config.ClientSessionCache; nil for no resumption.
func (st *Session) Cache() tls.ClientSessionCache {
	if st == nil {
		return nil
	}
	return st.cache
}

// Groups returns the key exchange groups a login offers: the one an
// earlier login under the same key negotiated (Learn), or nil (crypto/tls's
// defaults) before any did.
func (st *Session) Groups() []tls.CurveID {
	if st == nil {
		return nil
	}
	if g := tls.CurveID(st.group.Load()); g != 0 {
		return []tls.CurveID{g}
	}
	return nil
}

// Learn records the group of a login's handshake, once it has passed the
// login's own certificate checks (the caller's to ensure).
func (st *Session) Learn(cs tls.ConnectionState) {
	if st != nil && cs.CurveID != 0 {
		st.group.Store(uint32(cs.CurveID))
	}
}
