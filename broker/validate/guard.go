package validate

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
)

// ErrSecretWithheld matches every *WithheldError. Do not retry: the server
// asked for a step that would reveal the secret without verified TLS.
var ErrSecretWithheld = errors.New("secret withheld without verified TLS")

// WithheldError reports that the validator stopped a login before it sent
// the secret in a form whoever answers could read (clear text, or
// RSA-encrypted to a public key the server handed out), because the
// endpoint's TLS does not verify the server and the endpoint does not allow
// that plugin. It matches ErrSecretWithheld. Do not retry: use tls.mode
// verify-identity, or (password endpoints) configure the plugin explicitly.
type WithheldError struct {
	// Plugin is the auth plugin the server asked for.
	Plugin string
	// Step says what the driver would have done, in plain words.
	Step string
}

// Error implements error.
func (e *WithheldError) Error() string {
	return fmt.Sprintf("the server asked for %s (%s) and the TLS of this endpoint does not verify the server; the validator did not send the secret", e.Plugin, e.Step)
}

// Unwrap returns ErrSecretWithheld.
func (e *WithheldError) Unwrap() error { return ErrSecretWithheld }

// SecretWithheld marks the error for broker/diagnose, which cannot import
// this package (it imports diagnose).
func (e *WithheldError) SecretWithheld() bool { return true }

// scramblePlugins never put the secret on the wire (only a nonce-bound
// hash or signature): a server may switch to them without verified TLS.
// caching_sha2_password is one for its fast path; its full authentication
// is checked on its own.
var scramblePlugins = map[string]bool{
	handshake.PluginNative:      true,
	handshake.PluginCachingSHA2: true,
	handshake.PluginEd25519:     true,
}

// RevealPlugins returns the plugins whose secret-revealing steps (clear
// text, sha256_password, caching_sha2_password full authentication) the
// validator takes for an endpoint without verified TLS: the configured
// plugin of a password endpoint, nothing for IAM (or any endpoint whose TLS
// verifies, where nothing is withheld). Pass it as the prober's
// Target.RevealWithoutVerifiedTLS so replays never go further than the
// validator.
func RevealPlugins(method config.AuthMethod, plugin string) []string {
	if method != config.AuthPassword || plugin == "" {
		return nil
	}
	return []string{plugin}
}

// guard sits between go-sql-driver and a server whose TLS is not verified
// (tls.mode disabled, preferred, required). It forwards the connection
// phase packet by packet and closes both sides, recording a *WithheldError,
// before the driver's packet that would reveal the secret leaves, or when
// the server switches to a plugin the endpoint does not allow. go-sql-driver
// has no option to refuse these steps itself (it sends the password in
// clear over any TLS and RSA-encrypts it to whatever key the server sends),
// so when the driver upgrades to TLS the guard terminates that TLS locally
// (a throwaway certificate only this process trusts) and makes the real,
// unverified TLS connection to the server itself. After the server's OK or
// ERR it copies bytes both ways untouched.
type guard struct {
	secret   []byte
	allowed  string      // the plugin whose revealing steps are allowed, or ""
	upstream *tls.Config // the endpoint's TLS; nil for disabled
	onTLS    func(tls.ConnectionState)

	mu       sync.Mutex
	err      error // *WithheldError
	tlsErr   error // the upstream TLS handshake failure
	plugin   string
	fullAuth bool
	keyGiven bool
	done     bool
}

// newGuard returns the guard for t, or nil when t's TLS verifies the server.
func newGuard(t Target, upstream *tls.Config, onTLS func(tls.ConnectionState)) *guard {
	if t.TLSMode.Verifies() {
		return nil
	}
	g := &guard{secret: []byte(t.Secret.Reveal()), upstream: upstream, onTLS: onTLS}
	if !t.IAM {
		if p := RevealPlugins(config.AuthPassword, t.Plugin); len(p) > 0 {
			g.allowed = p[0]
		}
	}
	return g
}

// GuardConfig makes every connection of cfg, a go-sql-driver login with
// secret to a server whose TLS mode does not verify it, go through the same
// guard as Validate: the server may switch only to a scramble plugin or to
// allowedPlugin (empty: none), and no packet that would reveal secret (clear
// text, RSA to a key the server handed out, caching_sha2 full
// authentication) leaves. It replaces cfg.DialFunc and, when cfg.TLS is set,
// cfg.TLS (the guard makes cfg's TLS connection upstream itself). It returns
// nil when mode verifies the server (cfg is left alone). After a login,
// failures reports the *WithheldError (matching ErrSecretWithheld) and the
// upstream TLS failure, if any. Use it for every broker login that is not
// Validate's (the diagnostic account of broker/resolve). Guarded
// connections (and their upstream TLS handshake) end when ctx ends, so ctx
// must outlive every use of cfg's connections: go-sql-driver cancels the
// context it dials with as soon as the dial returns.
func GuardConfig(ctx context.Context, cfg *mysql.Config, mode config.TLSMode, secret, allowedPlugin string) (failures func() (withheld, tlsErr error)) {
	if mode.Verifies() {
		return nil
	}
	g := &guard{secret: []byte(secret), allowed: allowedPlugin, upstream: cfg.TLS}
	if cfg.TLS != nil {
		cfg.TLS = localClientTLS()
	}
	var d net.Dialer
	if cfg.Timeout > 0 {
		d.Timeout = cfg.Timeout
	}
	cfg.DialFunc = func(dctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		return g.wrap(ctx, c), nil
	}
	return g.failures
}

func (g *guard) failures() (withheld, tlsErr error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err, g.tlsErr
}

// wrap returns the driver's side of a guarded connection to up.
func (g *guard) wrap(ctx context.Context, up net.Conn) net.Conn {
	driverSide, guardSide := net.Pipe()
	go g.serve(ctx, up, guardSide)
	return driverSide
}

func (g *guard) withhold(plugin, step string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = &WithheldError{Plugin: plugin, Step: step}
	}
	return g.err
}

func (g *guard) serve(ctx context.Context, up, down net.Conn) {
	// When the context ends, the driver's own cancellation reports it (a
	// timeout, not a closed connection): leave its side to it.
	closeAll := func() {
		_ = up.Close()
		if ctx.Err() == nil {
			_ = down.Close()
		}
	}
	defer func() { closeAll() }()
	raw := up
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()

	seq, greeting, err := handshake.ReadPacket(up)
	if err != nil || len(greeting) == 0 {
		return
	}
	if _, err := handshake.WritePacket(down, seq, greeting); err != nil || greeting[0] == 0xff {
		return
	}
	if gr, err := handshake.ParseGreeting(greeting); err == nil {
		g.plugin = gr.AuthPluginName
	}
	seq, first, err := handshake.ReadPacket(down)
	if err != nil {
		return
	}
	if len(first) == 32 && handshake.Capability(binary.LittleEndian.Uint32(first)).Has(handshake.ClientSSL) {
		// SSLRequest: the real TLS upstream, the local TLS to the driver.
		if g.upstream == nil {
			return
		}
		if _, err := handshake.WritePacket(up, seq, first); err != nil {
			return
		}
		cfg := g.upstream.Clone()
		if cfg.ServerName == "" {
			if h, _, err := net.SplitHostPort(up.RemoteAddr().String()); err == nil {
				cfg.ServerName = h
			}
		}
		tc := tls.Client(up, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			g.mu.Lock()
			g.tlsErr = err
			g.mu.Unlock()
			return
		}
		if g.onTLS != nil {
			g.onTLS(tc.ConnectionState())
		}
		ts := tls.Server(down, localServerTLS())
		if err := ts.HandshakeContext(ctx); err != nil {
			return
		}
		up, down = tc, ts
		if seq, first, err = handshake.ReadPacket(down); err != nil {
			return
		}
	}
	plugin, resp, ok := parseHandshakeResponse(first)
	if !ok {
		return
	}
	g.mu.Lock()
	g.plugin = plugin
	g.mu.Unlock()
	if g.check(resp) != nil {
		return
	}
	if _, err := handshake.WritePacket(up, seq, first); err != nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); defer closeAll(); g.serverToDriver(up, down) }()
	go func() { defer wg.Done(); defer closeAll(); g.driverToServer(down, up) }()
	wg.Wait()
}

// serverToDriver forwards the server's packets, following the auth state,
// then copies bytes once the server sent OK or ERR.
func (g *guard) serverToDriver(up, down net.Conn) {
	for {
		seq, p, err := handshake.ReadPacket(up)
		if err != nil || len(p) == 0 {
			return
		}
		g.mu.Lock()
		switch p[0] {
		case 0x00, 0xff: // OK, ERR: the connection phase is over
			g.done = true
		case 0xfe: // AuthSwitchRequest
			req, err := handshake.ParseAuthSwitchRequest(p)
			if err != nil {
				g.mu.Unlock()
				return
			}
			g.plugin, g.fullAuth, g.keyGiven = req.PluginName, false, false
			if !scramblePlugins[req.PluginName] && req.PluginName != g.allowed {
				g.mu.Unlock()
				_ = g.withhold(req.PluginName, "a switch to a plugin this endpoint does not allow without verified TLS")
				return
			}
		case 0x01: // AuthMoreData
			data := p[1:]
			if g.plugin == handshake.PluginCachingSHA2 && len(data) == 1 && data[0] == 0x04 {
				g.fullAuth = true
			}
			if bytes.Contains(data, []byte("-----BEGIN")) {
				g.keyGiven = true
			}
		}
		done := g.done
		g.mu.Unlock()
		if _, err := handshake.WritePacket(down, seq, p); err != nil {
			return
		}
		if done {
			_, _ = io.Copy(down, up)
			return
		}
	}
}

// driverToServer forwards the driver's auth packets unless one would
// reveal the secret, then copies bytes.
func (g *guard) driverToServer(down, up net.Conn) {
	for {
		g.mu.Lock()
		done := g.done
		g.mu.Unlock()
		if done {
			_, _ = io.Copy(up, down)
			return
		}
		seq, p, err := handshake.ReadPacket(down)
		if err != nil {
			return
		}
		g.mu.Lock()
		done = g.done
		g.mu.Unlock()
		if !done && g.check(p) != nil {
			return
		}
		if _, err := handshake.WritePacket(up, seq, p); err != nil {
			return
		}
	}
}

// check records and returns a *WithheldError when resp, the driver's answer
// in the current auth state, would reveal the secret.
func (g *guard) check(resp []byte) error {
	g.mu.Lock()
	plugin, full, key := g.plugin, g.fullAuth, g.keyGiven
	g.mu.Unlock()
	if len(g.secret) == 0 || plugin == g.allowed && plugin != "" {
		return nil
	}
	one := func(b ...byte) bool { return len(resp) == 1 && bytes.IndexByte(b, resp[0]) >= 0 }
	step := ""
	switch {
	case key:
		step = "the password RSA-encrypted to the public key the server handed out"
	case plugin == handshake.PluginClearPassword || plugin == handshake.PluginDialog:
		step = "the secret in clear text"
	case plugin == handshake.PluginSHA256 && !one(0x00, 0x01):
		step = "the password in clear text"
	case plugin == handshake.PluginCachingSHA2 && full && !one(0x02):
		step = "full authentication: the password in clear text"
	case !scramblePlugins[plugin]:
		step = "an answer of a plugin that may carry the secret"
	case len(g.secret) >= 8 && bytes.Contains(resp, g.secret):
		step = "the secret in clear text"
	default:
		return nil
	}
	return g.withhold(plugin, step)
}

// parseHandshakeResponse returns the plugin name and auth response of a
// Protocol::HandshakeResponse41:
//
//	int<4> capabilities, int<4> max packet, int<1> charset, 23 bytes filler,
//	string<NUL> user, auth response (lenenc with PLUGIN_AUTH_LENENC_CLIENT_DATA,
//	else int<1> length with SECURE_CONNECTION, else string<NUL>),
//	string<NUL> database (CONNECT_WITH_DB), string<NUL> plugin (PLUGIN_AUTH).
//
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html
func parseHandshakeResponse(p []byte) (plugin string, resp []byte, ok bool) {
	if len(p) < 32 {
		return "", nil, false
	}
	caps := handshake.Capability(binary.LittleEndian.Uint32(p))
	rest := p[32:]
	nul := func() ([]byte, bool) {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return nil, false
		}
		s := rest[:i]
		rest = rest[i+1:]
		return s, true
	}
	if _, ok := nul(); !ok { // user
		return "", nil, false
	}
	switch {
	case caps.Has(handshake.ClientPluginAuthLenencClientData):
		if len(rest) == 0 || rest[0] >= 0xfb {
			return "", nil, false // auth responses are short: one-byte length
		}
		n := int(rest[0])
		if len(rest) < 1+n {
			return "", nil, false
		}
		resp, rest = rest[1:1+n], rest[1+n:]
	case caps.Has(handshake.ClientSecureConnection):
		if len(rest) == 0 || len(rest) < 1+int(rest[0]) {
			return "", nil, false
		}
		n := int(rest[0])
		resp, rest = rest[1:1+n], rest[1+n:]
	default:
		var ok bool
		if resp, ok = nul(); !ok {
			return "", nil, false
		}
	}
	if caps.Has(handshake.ClientConnectWithDB) {
		if _, ok := nul(); !ok {
			return "", nil, false
		}
	}
	if caps.Has(handshake.ClientPluginAuth) {
		name, ok := nul()
		if !ok {
			name = rest
		}
		plugin = string(name)
	}
	return plugin, resp, true
}

var (
	localOnce   sync.Once
	localServer *tls.Config
	localClient *tls.Config
)

// localName is the name on the guard's throwaway certificate.
const localName = "connbroker-validator.invalid"

func initLocalTLS() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("validate: generate the guard's key: %v", err))
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: localName}, DNSNames: []string{localName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(fmt.Sprintf("validate: create the guard's certificate: %v", err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(fmt.Sprintf("validate: parse the guard's certificate: %v", err))
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	localServer = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	localClient = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: localName}
}

// localServerTLS is the guard's side of the driver's TLS.
func localServerTLS() *tls.Config { localOnce.Do(initLocalTLS); return localServer }

// localClientTLS is the driver's TLS config on a guarded connection: it
// trusts only the guard's throwaway certificate.
func localClientTLS() *tls.Config { localOnce.Do(initLocalTLS); return localClient.Clone() }

// withheldFix says how to let the validator log in.
func withheldFix(t Target) string {
	if t.IAM {
		return " (fix: use tls.mode verify-identity)"
	}
	return " (fix: use tls.mode verify-identity with the server's CA, or, accepting that the password can be read by whoever answers, set plugin: to the account's plugin)"
}
