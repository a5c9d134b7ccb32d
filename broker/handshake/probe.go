package handshake

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Dialer opens the TCP connection; *net.Dialer satisfies it.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Timeouts bound each stage of a probe; zero means DefaultStageTimeout. The
// context's deadline, when earlier, wins.
type Timeouts struct {
	// Dial bounds the TCP connect.
	Dial time.Duration
	// Greeting bounds waiting for the server's first packet.
	Greeting time.Duration
	// TLS bounds the SSLRequest and TLS handshake.
	TLS time.Duration
	// Auth bounds the whole authentication exchange.
	Auth time.Duration
}

// DefaultStageTimeout is the per-stage limit when Timeouts leaves one zero.
const DefaultStageTimeout = 5 * time.Second

// Probe runs the connection phase as a driver would and records it. The
// zero value is ready to use. A Probe is safe for concurrent use.
type Probe struct {
	// Dialer opens connections; nil uses a net.Dialer.
	Dialer Dialer
	// Timeouts bound each stage.
	Timeouts Timeouts
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// Target is what to log in to and how.
type Target struct {
	// Addr is "host:port".
	Addr string
	// User is the login name.
	User string
	// Secret is the password or IAM token. It is never recorded.
	Secret string
	// Database is the initial schema; empty sends none.
	Database string
	// TLS, when non-nil, upgrades the connection with this config. An
	// empty ServerName is taken from Addr.
	TLS *tls.Config
	// Profile is the driver to emulate.
	Profile Profile
	// GreetingOnly stops after the greeting (and the TLS upgrade when TLS
	// is set) without logging in: no user or secret is needed. The outcome
	// is ResultGreeted.
	GreetingOnly bool
	// RevealWithoutVerifiedTLS lists the plugins whose secret-revealing
	// steps the probe may take on a connection whose TLS is not verified
	// (no TLS, or TLS without certificate verification): the clear text of
	// mysql_clear_password, sha256_password and caching_sha2_password full
	// authentication in clear or RSA-encrypted to a key the server handed
	// out. AnyPlugin allows every plugin. Set it to what the endpoint's own
	// validator allows (its configured plugin on a password endpoint), so a
	// replay never sends the secret where the validator would not. Empty,
	// the default, never reveals the secret without verified TLS: the probe
	// stops with StopSecretWithoutVerifiedTLS at the step where the driver
	// would send it.
	RevealWithoutVerifiedTLS []string
}

// AnyPlugin in Target.RevealWithoutVerifiedTLS allows every plugin.
const AnyPlugin = "*"

// StopSecretWithoutVerifiedTLS is the stop reason code of a replay that
// reached a step where the driver would send the secret (in clear, or
// RSA-encrypted to a key the server handed out unverified) without
// verified TLS, and the target did not allow it: the driver WOULD leak the
// secret to whoever answers; the probe did not send it.
const StopSecretWithoutVerifiedTLS = "secret-without-verified-tls"

// String describes the target without its secret.
func (t Target) String() string {
	return fmt.Sprintf("%s@%s as %s (tls=%t)", t.User, t.Addr, t.Profile.Name, t.TLS != nil)
}

// GoString is String, so %#v cannot print the secret.
func (t Target) GoString() string { return t.String() }

// LogValue keeps the secret out of structured logs.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", t.Addr), slog.String("user", t.User),
		slog.String("profile", t.Profile.Name), slog.Bool("tls", t.TLS != nil))
}

// Run performs the whole connection phase against t and stops after the
// server's OK or ERR (sending COM_QUIT after an OK). The transcript is always
// returned, also with an error. The error is nil only when the server sent
// OK; otherwise it is a *StageError wrapping a *ServerError (ERR), a
// *StopError (the driver could not go on), a *TLSError, a *FramingError or
// *ParseError (not MySQL / broken peer), or a network or context error. See
// each type for whether to retry.
func (p *Probe) Run(ctx context.Context, t Target) (*Transcript, error) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	s := &session{p: p, t: t, tr: &Transcript{Addr: t.Addr, User: t.User, Profile: t.Profile.Name, start: now(), now: now}}
	err := s.run(ctx)
	s.finish(err)
	return s.tr, err
}

type session struct {
	p     *Probe
	t     Target
	tr    *Transcript
	conn  net.Conn
	seq   byte
	stage Stage
	ctx   context.Context

	greeting    *Greeting
	caps        Capability // the client's capabilities, as sent
	tls         bool
	verified    bool // TLS with the certificate checked (by the probe or the caller's hooks)
	plugin      string
	nonce       []byte
	switches    int
	awaitingKey bool
	greeted     bool // GreetingOnly finished
}

func (s *session) timeout(st Stage) time.Duration {
	var d time.Duration
	switch st {
	case StageDial:
		d = s.p.Timeouts.Dial
	case StageGreeting:
		d = s.p.Timeouts.Greeting
	case StageTLS:
		d = s.p.Timeouts.TLS
	case StageAuth:
		d = s.p.Timeouts.Auth
	}
	if d <= 0 {
		d = DefaultStageTimeout
	}
	return d
}

// enter starts a stage: its own deadline, capped by the context's.
func (s *session) enter(st Stage) {
	s.stage = st
	if s.conn == nil {
		return
	}
	dl := time.Now().Add(s.timeout(st))
	if cdl, ok := s.ctx.Deadline(); ok && cdl.Before(dl) {
		dl = cdl
	}
	_ = s.conn.SetDeadline(dl)
}

// fail wraps err with the stage, adding the context's error when the
// context ended the stage.
func (s *session) fail(err error) error {
	if cerr := s.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", err, cerr)
	}
	return &StageError{Stage: s.stage, Err: err}
}

func (s *session) run(ctx context.Context) error {
	s.ctx = ctx
	s.stage = StageDial
	if host, _, _ := net.SplitHostPort(s.t.Addr); host == "localhost" && s.t.Profile.UnixSocketForLocalhost {
		return s.stop(StopReason{Code: StopUnixSocket,
			Detail: s.t.Profile.Name + " takes the host \"localhost\" to mean the Unix socket and ignores the port: it would not reach " + s.t.Addr + " over TCP",
			Fix:    "force TCP (the broker's hints do: an option file with protocol=TCP, --protocol=TCP) or connect to 127.0.0.1"})
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout(StageDial))
	defer cancel()
	d := s.p.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(dctx, "tcp", s.t.Addr)
	if err != nil {
		return s.fail(fmt.Errorf("dial %s: %w", s.t.Addr, err))
	}
	s.conn = conn
	defer func() { _ = s.conn.Close() }()
	// A cancelled context interrupts any blocked read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	s.tr.add(Local, KindDial, "connected to "+conn.RemoteAddr().String(), map[string]string{"remote": conn.RemoteAddr().String()})

	if err := s.readGreeting(); err != nil {
		return err
	}
	if err := s.maybeTLS(); err != nil {
		return err
	}
	if s.t.GreetingOnly {
		s.greeted = true
		return nil
	}
	s.enter(StageAuth)
	if err := s.sendHandshakeResponse(); err != nil {
		return err
	}
	return s.authLoop()
}

func (s *session) read() ([]byte, error) {
	seq, payload, err := ReadPacket(s.conn)
	if err != nil {
		return nil, s.fail(err)
	}
	if seq != s.seq {
		return nil, s.fail(fmt.Errorf("%w: got sequence id %d, want %d", ErrOutOfSequence, seq, s.seq))
	}
	if len(payload) == 0 {
		return nil, s.fail(&ParseError{Packet: "packet", Reason: "empty payload"})
	}
	s.seq = seq + 1
	return payload, nil
}

func (s *session) write(payload []byte) error {
	next, err := WritePacket(s.conn, s.seq, payload)
	if err != nil {
		return s.fail(fmt.Errorf("write packet: %w", err))
	}
	s.seq = next
	return nil
}

func (s *session) readGreeting() error {
	s.enter(StageGreeting)
	payload, err := s.read()
	if err != nil {
		return err
	}
	if payload[0] == statusERR {
		return s.serverError(payload)
	}
	g, err := ParseGreeting(payload)
	if err != nil {
		return s.fail(err)
	}
	s.greeting, s.tr.Greeting = g, g
	s.tr.add(FromServer, KindGreeting, fmt.Sprintf("%s %s, plugin %s, TLS %s, connection id %d", g.Flavor(), g.ServerVersion,
		orNone(g.AuthPluginName), yesNo(g.OffersTLS(), "offered", "not offered"), g.ConnectionID),
		map[string]string{
			"version":       g.ServerVersion,
			"flavor":        g.Flavor(),
			"plugin":        g.AuthPluginName,
			"ssl":           strconv.FormatBool(g.OffersTLS()),
			"capabilities":  g.Capabilities.String(),
			"connection_id": strconv.FormatUint(uint64(g.ConnectionID), 10),
			"charset":       strconv.Itoa(int(g.CharacterSet)),
			"status":        fmt.Sprintf("0x%04x", g.StatusFlags),
		})
	if !g.Capabilities.Has(ClientProtocol41) || !g.Capabilities.Has(ClientSecureConnection) {
		return s.fail(fmt.Errorf("%w: server lacks CLIENT_PROTOCOL_41 or CLIENT_SECURE_CONNECTION", ErrUnexpectedPacket))
	}
	s.caps = ClientLongPassword | ClientLongFlag | ClientProtocol41 | ClientSecureConnection | ClientTransactions | ClientPluginAuth
	s.caps |= g.Capabilities & ClientPluginAuthLenencClientData
	if s.t.Database != "" {
		s.caps |= ClientConnectWithDB
	}
	s.nonce = g.AuthPluginData
	return nil
}

func (s *session) maybeTLS() error {
	if s.t.TLS == nil && s.t.Profile.PrefersTLS && s.greeting.OffersTLS() {
		s.tr.add(Local, KindTLSPreferred, s.t.Profile.Name+" upgrades to TLS by default when the server offers it, without verifying the certificate (PREFERRED)", map[string]string{"mode": "preferred"})
		s.t.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // what the driver does by default
	}
	if s.t.TLS == nil {
		return nil
	}
	if !s.greeting.OffersTLS() {
		if s.t.Profile.InsistsOnTLS {
			return s.stop(StopReason{Code: StopServerLacksTLS,
				Detail: "TLS is configured but the server does not offer it; the driver refuses to go on"})
		}
		s.tr.add(Local, KindTLSFallback, "TLS configured but not offered by the server: the driver goes on in plain text", nil)
		return nil
	}
	s.enter(StageTLS)
	s.caps |= ClientSSL
	if err := s.write(AppendSSLRequest(nil, s.caps, defaultMaxPacket, defaultCharset)); err != nil {
		return err
	}
	s.tr.add(FromClient, KindSSLRequest, "SSLRequest", map[string]string{"capabilities": s.caps.String()})

	cfg := s.t.TLS.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(s.t.Addr); err == nil {
			cfg.ServerName = host
		}
	}
	verification := "skipped (InsecureSkipVerify)"
	verifies := !cfg.InsecureSkipVerify || cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil
	var verifyErr error
	var peer []*x509.Certificate
	own := !cfg.InsecureSkipVerify && cfg.VerifyConnection == nil && cfg.VerifyPeerCertificate == nil
	if own {
		// Verify ourselves, as crypto/tls would, so the transcript shows the
		// certificate even when verification fails.
		roots, name, clock := cfg.RootCAs, cfg.ServerName, cfg.Time
		if clock == nil {
			clock = time.Now
		}
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			peer = cs.PeerCertificates
			verifyErr = VerifyPeer(peer, x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: clock()})
			return verifyErr
		}
	} else if verifies {
		verification = "by the caller's verification hooks"
	}
	tc := tls.Client(s.conn, cfg)
	herr := tc.HandshakeContext(s.ctx)
	fields := map[string]string{"server_name": cfg.ServerName}
	if herr == nil {
		st := tc.ConnectionState()
		peer = st.PeerCertificates
		fields["version"] = tls.VersionName(st.Version)
		fields["cipher"] = tls.CipherSuiteName(st.CipherSuite)
	}
	if len(peer) > 0 {
		c := peer[0]
		fields["subject"] = c.Subject.String()
		fields["issuer"] = c.Issuer.String()
		fields["not_after"] = c.NotAfter.UTC().Format(time.RFC3339)
		if len(c.DNSNames) > 0 {
			fields["dns_names"] = strings.Join(c.DNSNames, ",")
		}
		if len(c.IPAddresses) > 0 {
			ips := make([]string, len(c.IPAddresses))
			for i, ip := range c.IPAddresses {
				ips[i] = ip.String()
			}
			fields["ip_addresses"] = strings.Join(ips, ",")
		}
	}
	if own {
		verification = "ok"
		if verifyErr != nil {
			verification = "failed: " + verifyErr.Error()
		}
	}
	fields["verification"] = verification
	if herr != nil {
		if verifyErr == nil && own && len(peer) == 0 {
			fields["verification"] = "not reached"
		}
		s.tr.add(Local, KindTLS, "TLS handshake failed: "+herr.Error(), fields)
		return s.fail(&TLSError{Verify: verifyErr, Err: herr})
	}
	s.conn, s.tls, s.verified = tc, true, verifies
	s.tr.add(Local, KindTLS, fmt.Sprintf("TLS %s %s, certificate %q issued by %q, verification %s",
		fields["version"], fields["cipher"], fields["subject"], fields["issuer"], verification), fields)
	return nil
}

// authStep is a plugin's answer to the server.
type authStep struct {
	resp []byte
	mode string // e.g. "scramble", "cleartext-over-tls", "rsa-key-request"
}

// respond computes plugin's response to nonce, or why the driver stops.
func (s *session) respond(plugin string, nonce []byte) (authStep, *StopReason, error) {
	pr := &s.t.Profile
	if plugin == "" {
		return authStep{mode: "empty (no plugin)"}, nil, nil
	}
	if !pr.Supports(plugin) {
		if need, ok := pr.PluginNeeds[plugin]; ok {
			return authStep{}, &StopReason{Code: StopPluginDependencyMissing, Plugin: plugin,
				Detail: fmt.Sprintf("%s needs an extra dependency for %s", pr.Name, plugin), Fix: need}, nil
		}
		return authStep{}, &StopReason{Code: StopUnsupportedPlugin, Plugin: plugin,
			Detail: fmt.Sprintf("%s does not support the %s plugin", pr.Name, plugin)}, nil
	}
	pw := s.t.Secret
	switch plugin {
	case PluginNative:
		return authStep{resp: scrambleNative(scramble20(nonce), pw), mode: "scramble"}, nil, nil
	case PluginCachingSHA2:
		return authStep{resp: scrambleCachingSHA2(scramble20(nonce), pw), mode: "scramble"}, nil, nil
	case PluginSHA256:
		switch {
		case pw == "":
			return authStep{resp: []byte{0}, mode: "empty password"}, nil, nil
		case s.tls:
			if stop := s.revealStop(plugin, "sha256_password sends the password in clear text"); stop != nil {
				return authStep{}, stop, nil
			}
			return authStep{resp: append([]byte(pw), 0), mode: "cleartext-over-tls"}, nil, nil
		}
		if stop := s.rsaStop(plugin); stop != nil {
			return authStep{}, stop, nil
		}
		s.awaitingKey = true
		return authStep{resp: []byte{SHA256RequestPublicKey}, mode: "rsa-key-request"}, nil, nil
	case PluginClearPassword:
		if pr.ClearTextNeedsOptIn && !pr.ClearTextOptIn {
			return authStep{}, &StopReason{Code: StopClearTextOptInMissing, Plugin: plugin,
				Detail: fmt.Sprintf("the server asks for mysql_clear_password and %s needs an explicit opt-in", pr.Name),
				Fix:    pr.ClearTextOptInHint}, nil
		}
		if !s.tls && !pr.ClearTextWithoutTLS {
			return authStep{}, &StopReason{Code: StopClearTextWithoutTLS, Plugin: plugin,
				Detail: fmt.Sprintf("the server asks for mysql_clear_password on a connection without TLS and %s refuses to send it", pr.Name),
				Fix:    "enable TLS (verified) for this endpoint"}, nil
		}
		if stop := s.revealStop(plugin, "mysql_clear_password sends the secret in clear text"); stop != nil {
			return authStep{}, stop, nil
		}
		mode := "cleartext-over-tls"
		if !s.tls {
			mode = "cleartext-without-tls"
		}
		return authStep{resp: append([]byte(pw), 0), mode: mode}, nil, nil
	case PluginEd25519:
		if len(nonce) == 33 && nonce[32] == 0 {
			nonce = nonce[:32]
		}
		if len(nonce) != 32 {
			return authStep{}, nil, s.fail(&ParseError{Packet: "client_ed25519 nonce", Reason: fmt.Sprintf("%d bytes, want 32", len(nonce))})
		}
		sig, err := signEd25519(nonce, pw)
		if err != nil {
			return authStep{}, nil, s.fail(err)
		}
		return authStep{resp: sig, mode: "signature"}, nil, nil
	}
	return authStep{}, &StopReason{Code: StopUnsupportedPlugin, Plugin: plugin,
		Detail: "the probe cannot run the " + plugin + " plugin"}, nil
}

// revealStop says why the probe does not send the secret with plugin's
// step what (which reveals it: clear text, or RSA to a key the server
// handed out) on this connection, or nil when it may: the TLS is verified,
// or the target allows plugin (Target.RevealWithoutVerifiedTLS). The driver
// would send it, so the stop is the prediction: the secret would leave
// unverified.
func (s *session) revealStop(plugin, what string) *StopReason {
	if s.verified || s.t.Secret == "" {
		return nil
	}
	for _, p := range s.t.RevealWithoutVerifiedTLS {
		if p == plugin || p == AnyPlugin {
			return nil
		}
	}
	conn := "a connection without TLS"
	if s.tls {
		conn = "TLS whose certificate is not verified"
	}
	return &StopReason{Code: StopSecretWithoutVerifiedTLS, Plugin: plugin,
		Detail: fmt.Sprintf("%s would send the secret without verified TLS: %s on %s, which anyone on the path (or a server impersonating this one) can read; the probe did not send it",
			s.t.Profile.Name, what, conn),
		Fix: "use tls.mode verify-identity (with tls.ca for a private CA) so the server's certificate is checked before any secret is sent"}
}

// rsaStop says why the driver cannot do the RSA step, or nil if it can.
func (s *session) rsaStop(plugin string) *StopReason {
	pr := &s.t.Profile
	if plugin == PluginSHA256 && pr.SHA256RetrievesKey {
		return nil
	}
	switch pr.RSA {
	case RSARetrieveKey:
		return nil
	case RSAPinnedKeyOnly:
		return &StopReason{Code: StopRSAKeyRetrievalDisabled, Plugin: plugin,
			Detail: fmt.Sprintf("%s full authentication without TLS needs the server's RSA public key and %s does not request it", plugin, pr.Name),
			Fix:    joinFix("enable TLS", pr.RSAHint)}
	}
	return &StopReason{Code: StopRSAUnavailable, Plugin: plugin,
		Detail: fmt.Sprintf("%s full authentication without TLS needs RSA and %s cannot do it", plugin, pr.Name),
		Fix:    joinFix("enable TLS", pr.RSAHint)}
}

func joinFix(a, b string) string {
	if b == "" {
		return a
	}
	return a + ", or " + b
}

func (s *session) sendHandshakeResponse() error {
	pr := &s.t.Profile
	announced := s.greeting.AuthPluginName
	plugin := pr.FirstPlugin
	if plugin == "" {
		plugin = pr.DefaultPlugin
		if pr.Supports(announced) {
			plugin = announced
		}
	}
	step, stop, err := s.respond(plugin, s.nonce)
	if err != nil {
		return err
	}
	if stop != nil && stop.Code != StopSecretWithoutVerifiedTLS && pr.FirstPlugin == "" && plugin != pr.DefaultPlugin {
		// Like go-sql-driver: fall back to the default plugin and let the
		// server AuthSwitch if the account really needs the other one.
		s.tr.add(Local, KindWarning, fmt.Sprintf("cannot answer the announced %s in the first packet (%s); using %s", plugin, stop.Code, orNone(pr.DefaultPlugin)),
			map[string]string{"plugin": plugin, "code": stop.Code})
		s.awaitingKey = false
		plugin = pr.DefaultPlugin
		step, stop, err = s.respond(plugin, s.nonce)
		if err != nil {
			return err
		}
	}
	if stop != nil {
		return s.stop(*stop)
	}
	s.plugin = plugin
	h := &HandshakeResponse{Capabilities: s.caps, MaxPacketSize: defaultMaxPacket, CharacterSet: defaultCharset,
		Username: s.t.User, AuthResponse: step.resp, Database: s.t.Database, AuthPluginName: plugin}
	if err := s.write(AppendHandshakeResponse41(nil, h)); err != nil {
		return err
	}
	fields := map[string]string{"plugin": plugin, "user": s.t.User, "capabilities": s.caps.String(),
		"tls": strconv.FormatBool(s.tls), "auth_response": step.mode}
	if s.t.Database != "" {
		fields["database"] = s.t.Database
	}
	s.tr.add(FromClient, KindHandshakeResponse, fmt.Sprintf("HandshakeResponse41 user %q plugin %s (%s)", s.t.User, orNone(plugin), step.mode), fields)
	s.noteSent(plugin, step)
	return nil
}

// noteSent records local facts about what was just sent.
func (s *session) noteSent(plugin string, step authStep) {
	switch step.mode {
	case "rsa-key-request":
		s.tr.add(FromClient, KindRSAKeyRequest, "request the server's RSA public key", map[string]string{"plugin": plugin})
	case "cleartext-without-tls":
		s.tr.add(Local, KindWarning, "the secret was sent in clear text on a connection without TLS", map[string]string{"plugin": plugin, "code": StopClearTextWithoutTLS})
	}
}

func (s *session) authLoop() error {
	for {
		payload, err := s.read()
		if err != nil {
			return err
		}
		switch payload[0] {
		case statusOK:
			ok, err := ParseOK(payload, s.caps)
			if err != nil {
				return s.fail(err)
			}
			s.tr.add(FromServer, KindOK, "OK: logged in", map[string]string{"status": fmt.Sprintf("0x%04x", ok.StatusFlags), "warnings": strconv.Itoa(int(ok.Warnings))})
			s.quit()
			return nil
		case statusERR:
			return s.serverError(payload)
		case statusAuthSwitch:
			if err := s.authSwitch(payload); err != nil {
				return err
			}
		case statusAuthMoreData:
			if err := s.moreData(payload); err != nil {
				return err
			}
		default:
			return s.fail(fmt.Errorf("%w: status byte 0x%02x during authentication", ErrUnexpectedPacket, payload[0]))
		}
	}
}

func (s *session) authSwitch(payload []byte) error {
	req, err := ParseAuthSwitchRequest(payload)
	if err != nil {
		return s.fail(err)
	}
	s.switches++
	s.tr.add(FromServer, KindAuthSwitchRequest, fmt.Sprintf("AuthSwitchRequest: %s -> %s", orNone(s.plugin), req.PluginName),
		map[string]string{"from": s.plugin, "plugin": req.PluginName})
	if s.switches > 1 {
		return s.fail(fmt.Errorf("%w: a second AuthSwitchRequest", ErrUnexpectedPacket))
	}
	nonce := req.PluginData
	if req.PluginName == PluginOldPassword && len(nonce) == 0 {
		nonce = s.nonce
	}
	step, stop, err := s.respond(req.PluginName, nonce)
	if err != nil {
		return err
	}
	if stop != nil {
		return s.stop(*stop)
	}
	s.plugin, s.nonce = req.PluginName, nonce
	if err := s.write(step.resp); err != nil {
		return err
	}
	s.tr.add(FromClient, KindAuthResponse, fmt.Sprintf("AuthSwitchResponse with %s (%s)", req.PluginName, step.mode),
		map[string]string{"plugin": req.PluginName, "auth_response": step.mode})
	s.noteSent(req.PluginName, step)
	return nil
}

func (s *session) moreData(payload []byte) error {
	m, err := ParseAuthMoreData(payload)
	if err != nil {
		return s.fail(err)
	}
	if s.awaitingKey {
		s.awaitingKey = false
		pub, err := parsePublicKey(m.Data)
		if err != nil {
			s.tr.add(FromServer, KindAuthMoreData, "AuthMoreData: expected an RSA public key", map[string]string{"bytes": strconv.Itoa(len(m.Data))})
			return s.fail(err)
		}
		sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(pub))
		s.tr.add(FromServer, KindRSAKeyReceived, fmt.Sprintf("RSA public key, %d bits", pub.N.BitLen()),
			map[string]string{"bits": strconv.Itoa(pub.N.BitLen()), "sha256": hex.EncodeToString(sum[:])})
		if stop := s.revealStop(s.plugin, s.plugin+" sends the password RSA-encrypted to the public key the server just handed out, unverified (whoever answers holds the private key)"); stop != nil {
			return s.stop(*stop)
		}
		enc, err := encryptPassword(s.t.Secret, scramble20(s.nonce), pub)
		if err != nil {
			return s.fail(err)
		}
		if err := s.write(enc); err != nil {
			return err
		}
		s.tr.add(FromClient, KindAuthResponse, "password encrypted with the server's RSA key (RSA-OAEP)", map[string]string{"plugin": s.plugin, "auth_response": "rsa-oaep"})
		return nil
	}
	if s.plugin != PluginCachingSHA2 {
		s.tr.add(FromServer, KindAuthMoreData, fmt.Sprintf("AuthMoreData (%d bytes) for %s", len(m.Data), orNone(s.plugin)), map[string]string{"plugin": s.plugin})
		return s.fail(fmt.Errorf("%w: AuthMoreData for %s", ErrUnexpectedPacket, orNone(s.plugin)))
	}
	switch {
	case m.IsFastAuthSuccess():
		s.tr.add(FromServer, KindFastAuthSuccess, "caching_sha2_password fast auth succeeded (cached)", nil)
		return nil
	case m.IsPerformFullAuth():
		s.tr.add(FromServer, KindFullAuthRequired, "caching_sha2_password fast-auth cache miss: server asks for full authentication", nil)
	default:
		s.tr.add(FromServer, KindAuthMoreData, fmt.Sprintf("AuthMoreData (%d bytes)", len(m.Data)), nil)
		return s.fail(fmt.Errorf("%w: caching_sha2_password status %x", ErrUnexpectedPacket, m.Data[:min(len(m.Data), 8)]))
	}
	pr := &s.t.Profile
	var step authStep
	switch {
	case s.tls:
		if stop := s.revealStop(PluginCachingSHA2, "caching_sha2_password full authentication sends the password in clear text"); stop != nil {
			return s.stop(*stop)
		}
		step = authStep{resp: append([]byte(s.t.Secret), 0), mode: "cleartext-over-tls"}
	case pr.FullAuthClearTextWithoutTLS:
		return s.stop(StopReason{Code: StopFullAuthClearTextWithoutTLS, Plugin: PluginCachingSHA2,
			Detail: fmt.Sprintf("%s would send the password in clear text without TLS for full authentication (the server rejects it); the probe did not send it", pr.Name),
			Fix:    joinFix("enable TLS", pr.RSAHint)})
	default:
		if stop := s.rsaStop(PluginCachingSHA2); stop != nil {
			return s.stop(*stop)
		}
		s.awaitingKey = true
		step = authStep{resp: []byte{CachingSHA2RequestPublicKey}, mode: "rsa-key-request"}
	}
	if err := s.write(step.resp); err != nil {
		return err
	}
	if step.mode == "cleartext-over-tls" {
		s.tr.add(FromClient, KindAuthResponse, "full authentication: password in clear text over TLS", map[string]string{"plugin": PluginCachingSHA2, "auth_response": step.mode})
	}
	s.noteSent(PluginCachingSHA2, step)
	return nil
}

func (s *session) serverError(payload []byte) error {
	e, err := ParseERR(payload)
	if err != nil {
		return s.fail(err)
	}
	s.tr.add(FromServer, KindERR, fmt.Sprintf("ERR %d (%s): %s", e.Code, orNone(e.SQLState), e.Message),
		map[string]string{"code": strconv.Itoa(int(e.Code)), "sqlstate": e.SQLState, "message": e.Message})
	return &StageError{Stage: s.stage, Err: e}
}

func (s *session) stop(r StopReason) error {
	f := map[string]string{"code": r.Code}
	if r.Plugin != "" {
		f["plugin"] = r.Plugin
	}
	if r.Fix != "" {
		f["fix"] = r.Fix
	}
	s.tr.add(Local, KindStop, r.Detail, f)
	return &StageError{Stage: s.stage, Err: &StopError{Reason: r}}
}

// quit sends COM_QUIT after a successful login; failures do not matter.
func (s *session) quit() {
	if _, err := WritePacket(s.conn, 0, []byte{0x01}); err == nil {
		s.tr.add(FromClient, KindQuit, "COM_QUIT", nil)
	}
}

func (s *session) finish(err error) {
	o := Outcome{Result: ResultOK, Plugin: s.plugin, TLS: s.tls, Err: err}
	var se *ServerError
	var st *StopError
	switch {
	case err == nil && s.greeted:
		o.Result = ResultGreeted
	case err == nil:
	case errors.As(err, &se):
		o.Result, o.Server = ResultServerError, se
	case errors.As(err, &st):
		o.Result, o.Stop = ResultStopped, &st.Reason
	default:
		o.Result = ResultFailed
		s.tr.add(Local, KindError, err.Error(), map[string]string{"stage": string(s.stage)})
	}
	s.tr.Outcome = o
	f := map[string]string{"result": string(o.Result), "tls": strconv.FormatBool(o.TLS)}
	if o.Plugin != "" {
		f["plugin"] = o.Plugin
	}
	summary := string(o.Result)
	switch {
	case o.Server != nil:
		summary += fmt.Sprintf(": server error %d (%s)", o.Server.Code, o.Server.SQLState)
		f["code"] = strconv.Itoa(int(o.Server.Code))
	case o.Stop != nil:
		summary += ": " + o.Stop.Code
		f["code"] = o.Stop.Code
	case err != nil:
		summary += " at " + string(s.stage)
		f["stage"] = string(s.stage)
	}
	s.tr.add(Local, KindOutcome, summary, f)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
