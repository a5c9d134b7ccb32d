package dbtls

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
)

// resumingHandshake runs a TLS handshake with client against a loopback
// crypto/tls server with config server (one config: one ticket key, so
// its sessions resume), which then sends one byte (so that the client
// reads the TLS 1.3 session ticket sent after the handshake).
func resumingHandshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		s := tls.Server(c, server)
		if s.Handshake() == nil {
			_, _ = s.Write([]byte{1})
		}
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, client)
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := tc.Read(make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

// login is a handshake with Config(mode, ca, name), cache as its session
// cache. verified reports whether VerifyConnection ran (the config's own,
// if any, runs after it) and whether it saw a resumed session.
func login(t *testing.T, server *tls.Config, mode config.TLSMode, ca []byte, name string, cache tls.ClientSessionCache) (cs tls.ConnectionState, verified, sawResumed bool, err error) {
	t.Helper()
	c, err := Config(mode, ca, name)
	if err != nil {
		t.Fatal(err)
	}
	c.ClientSessionCache = cache
	own := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		verified, sawResumed = true, cs.DidResume
		if own != nil {
			return own(cs)
		}
		return nil
	}
	cs, err = resumingHandshake(t, server, c)
	return cs, verified, sawResumed, err
}

// TestSessionsKeyedByTrust checks that Sessions hands the same cache only
// to logins with the same address, mode, CA bundle and server name, and
// that later logins with the same settings resume, VerifyConnection
// running on each.
func TestSessionsKeyedByTrust(t *testing.T) {
	caPEM, cert := pki(t)
	otherPEM, _ := pki(t)
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	s := NewSessions()
	base := s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Cache()
	if s.For("db:3306", config.TLSVerifyIdentity, append([]byte{}, caPEM...), "db.internal").Cache() != base {
		t.Error("the same settings got another cache")
	}
	for name, c := range map[string]tls.ClientSessionCache{
		"another address":     s.For("db:3307", config.TLSVerifyIdentity, caPEM, "db.internal").Cache(),
		"another mode":        s.For("db:3306", config.TLSVerifyCA, caPEM, "db.internal").Cache(),
		"another CA":          s.For("db:3306", config.TLSVerifyIdentity, otherPEM, "db.internal").Cache(),
		"system roots":        s.For("db:3306", config.TLSVerifyIdentity, nil, "db.internal").Cache(),
		"another server name": s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db2.internal").Cache(),
		"another request":     NewSessions().For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Cache(),
	} {
		if c == base {
			t.Errorf("%s shares the cache", name)
		}
	}
	if (*Sessions)(nil).For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Cache() != nil || s.For("db:3306", config.TLSDisabled, nil, "").Cache() != nil {
		t.Error("a nil Sessions or tls disabled returned a cache")
	}
	for _, mode := range []config.TLSMode{config.TLSVerifyIdentity, config.TLSVerifyCA} {
		cache := s.For("db:3306", mode, caPEM, "db.internal").Cache()
		for i, want := range []bool{false, true, true} {
			cs, verified, _, err := login(t, server, mode, caPEM, "db.internal", cache)
			if err != nil {
				t.Fatalf("%s login %d: %v", mode, i, err)
			}
			if cs.DidResume != want || !verified {
				t.Errorf("%s login %d: DidResume %v, VerifyConnection ran %v; want %v, true", mode, i, cs.DidResume, verified, want)
			}
		}
	}
}

// TestResumptionChecks records what crypto/tls (go1.26) checks when a
// session verified against one CA is offered to a config trusting
// another, the case Sessions' CA key rules out: verify-identity does not
// resume it (crypto/tls re-checks the session's verified chains against
// the config's RootCAs) and the full handshake fails; verify-ca
// (InsecureSkipVerify, so crypto/tls checks no chain) resumes it, and its
// VerifyConnection, which crypto/tls runs on resumption, rejects it.
func TestResumptionChecks(t *testing.T) {
	caPEM, cert := pki(t)
	otherPEM, _ := pki(t)
	server := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, tt := range []struct {
		mode        config.TLSMode
		wantResumed bool // VerifyConnection saw a resumed session
	}{
		{config.TLSVerifyIdentity, false},
		{config.TLSVerifyCA, true},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			shared := tls.NewLRUClientSessionCache(2) // deliberately not Sessions
			if _, _, _, err := login(t, server, tt.mode, caPEM, "db.internal", shared); err != nil {
				t.Fatal(err)
			}
			_, _, sawResumed, err := login(t, server, tt.mode, otherPEM, "db.internal", shared)
			if err == nil {
				t.Fatal("a login trusting the other CA succeeded on the shared cache")
			}
			if sawResumed != tt.wantResumed {
				t.Errorf("VerifyConnection saw a resumed session: %v, want %v (err %v)", sawResumed, tt.wantResumed, err)
			}
		})
	}
}

// TestGroupsLearned checks that a request's later logins offer only the key
// exchange group its earlier one negotiated, still log in with it, and that
// a server that picks ML-KEM keeps being offered it.
func TestGroupsLearned(t *testing.T) {
	caPEM, cert := pki(t)
	for _, tt := range []struct {
		name   string
		server []tls.CurveID // the server's groups, as a MySQL server on OpenSSL 3.0 (no ML-KEM) or one that has it
		want   tls.CurveID
	}{
		{"classical server", []tls.CurveID{tls.X25519, tls.CurveP256}, tls.X25519},
		{"post-quantum server", []tls.CurveID{tls.X25519MLKEM768, tls.X25519}, tls.X25519MLKEM768},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: tt.server}
			s := NewSessions()
			if g := s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Groups(); g != nil {
				t.Fatalf("groups before any login: %v", g)
			}
			cs, _, _, err := login(t, server, config.TLSVerifyIdentity, caPEM, "db.internal", s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Cache())
			if err != nil || cs.CurveID != tt.want {
				t.Fatalf("first login: group %v, err %v; want %v", cs.CurveID, err, tt.want)
			}
			s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Learn(cs)
			g := s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Groups()
			if len(g) != 1 || g[0] != tt.want {
				t.Fatalf("groups after the first login: %v, want [%v]", g, tt.want)
			}
			if other := s.For("db:3306", config.TLSVerifyCA, caPEM, "db.internal").Groups(); other != nil {
				t.Errorf("another key's logins were given the group: %v", other)
			}
			c, err := Config(config.TLSVerifyIdentity, caPEM, "db.internal")
			if err != nil {
				t.Fatal(err)
			}
			c.CurvePreferences = g
			offered := make(chan []tls.CurveID, 1)
			srv := server.Clone()
			srv.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) { offered <- h.SupportedCurves; return nil, nil }
			c.ClientSessionCache = s.For("db:3306", config.TLSVerifyIdentity, caPEM, "db.internal").Cache()
			cs2, err := resumingHandshake(t, srv, c)
			if err != nil || cs2.CurveID != tt.want {
				t.Fatalf("second login: group %v, err %v", cs2.CurveID, err)
			}
			if got := <-offered; len(got) != 1 || got[0] != tt.want {
				t.Errorf("second login offered %v, want only %v", got, tt.want)
			}
		})
	}
}
