package sim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/connbroker/connbroker/broker/handshake"
)

// Plugin names accepted in Account.Plugin and Options.DefaultPlugin: the
// broker's one set (broker/handshake), under the names the peer's callers
// already use.
const (
	PluginNative        = handshake.PluginNative
	PluginCachingSHA2   = handshake.PluginCachingSHA2
	PluginSHA256        = handshake.PluginSHA256
	PluginClearPassword = handshake.PluginClearPassword
)

// DefaultVersion is the server version announced when Options.Version is empty.
const DefaultVersion = "8.0.36-connbroker-peer"

// handshakeTimeout bounds one client's connection phase so a stalled client
// cannot hold a goroutine until Close.
const handshakeTimeout = 10 * time.Second

// Account is one user the server knows.
type Account struct {
	// User is the login name, matched exactly.
	User string
	// Password is the account's password. For mysql_clear_password accounts
	// it is compared with the secret only when Options.ClearPasswordVerifier
	// is nil.
	Password string
	// Plugin is the account's authentication plugin: mysql_native_password,
	// caching_sha2_password, sha256_password or mysql_clear_password. Empty
	// means Options.DefaultPlugin.
	Plugin string
	// RequireTLS refuses logins over plain TCP with ERR 1045, like
	// CREATE USER ... REQUIRE SSL.
	RequireTLS bool
}

// Options configure a Server. The zero value is a caching_sha2_password
// server without TLS and without accounts.
type Options struct {
	// DefaultPlugin is the plugin announced in the greeting and used for
	// unknown users. Default caching_sha2_password.
	DefaultPlugin string
	// TLS enables the CLIENT_SSL capability. Nil means no TLS at all.
	// GenerateTLS makes one.
	TLS *tls.Config
	// CAPEM is the PEM of the CA that signed TLS's certificate; it is copied
	// to Server.CAPEM for clients. GenerateTLS returns it.
	CAPEM []byte
	// Accounts are the users the server accepts.
	Accounts []Account
	// ClearPasswordVerifier checks the secret sent by a client for a
	// mysql_clear_password account (an IAM token verifier, say). It is called
	// only after the TLS check passed; isTLS tells whether the connection is
	// TLS (false only with AllowClearPasswordWithoutTLS). A non-nil error
	// refuses the login with ERR 1045. Nil compares with Account.Password.
	ClearPasswordVerifier func(user, secret string, isTLS bool) error
	// AllowClearPasswordWithoutTLS lets mysql_clear_password logins proceed
	// on plain TCP (a misconfigured proxy). Default false: refused with 1045.
	AllowClearPasswordWithoutTLS bool
	// Version is the server version string. Default DefaultVersion.
	Version string
	// Addr is the loopback address to listen on. Default "127.0.0.1:0".
	Addr string
	// Logger receives one record per connection failure (with the reason a
	// client does not see). Nil discards.
	Logger *slog.Logger

	// RequireSecureTransport emulates MySQL's require_secure_transport=ON:
	// a login over plain TCP is refused after its password was checked
	// (a wrong password still gets 1045) with ERR 3159 (HY000)
	// "Connections using insecure transport are prohibited while
	// --require_secure_transport=ON." (sql_authentication.cc checks it
	// after the account's REQUIRE SSL check).
	RequireSecureTransport bool
	// ProxyRequiresTLS emulates RDS Proxy with RequireTLS: a handshake
	// response that arrives without a TLS upgrade is refused at once, before
	// any authentication exchange (no AuthSwitchRequest, so no secret is
	// asked for), with ERR 1105 (HY000) "server does not allow insecure
	// connections".
	ProxyRequiresTLS bool
	// NoRSAKey emulates a MySQL server without an RSA key pair
	// (caching_sha2_password_auto_generate_rsa_keys=OFF and no key files):
	// caching_sha2_password full authentication and sha256_password over
	// plain TCP are refused with ERR 1045, whatever the client sends (a
	// public-key request or an RSA-encrypted password), as
	// sql/auth/sha2_password.cc does (no keys: CR_ERROR, which the server
	// reports as access denied). The public key is never sent. Fast auth
	// from the cache still works over plain TCP, and everything works over
	// TLS. (go-mysql itself, given no RSA key, panics without a TLS config
	// and otherwise answers the key request with ERR 1105 "RSA key not
	// configured; ...", which no MySQL server sends; so the peer keeps its
	// key and refuses in its own auth provider, as MySQL does.)
	NoRSAKey bool
	// CachingSHA2OnlyOverTLS emulates a proxy that offers
	// caching_sha2_password only over TLS: NoRSAKey, and no fast-auth cache
	// (every login takes full authentication), so a caching_sha2_password
	// login over plain TCP always fails with 1045 after the server asked
	// for full authentication, and over TLS always succeeds with the
	// password sent in clear inside TLS.
	CachingSHA2OnlyOverTLS bool
}

// Error numbers and messages the server modes send.
const (
	// ErrSecureTransportRequired is MySQL's ER_SECURE_TRANSPORT_REQUIRED.
	ErrSecureTransportRequired = 3159
	// MsgSecureTransportRequired is its message.
	MsgSecureTransportRequired = "Connections using insecure transport are prohibited while --require_secure_transport=ON."
	// ErrProxyInsecure is the error number RDS Proxy uses (ER_UNKNOWN_ERROR).
	ErrProxyInsecure = 1105
	// MsgProxyInsecure is RDS Proxy's message for a connection without TLS.
	MsgProxyInsecure = "server does not allow insecure connections"
)

// Server is a running MySQL-8-protocol server on a loopback port.
type Server struct {
	// Addr is "host:port" as listened on.
	Addr string
	// Host is the listening IP, e.g. "127.0.0.1".
	Host string
	// Port is the listening TCP port.
	Port int
	// CAPEM is Options.CAPEM: the CA a client must trust for TLS.
	CAPEM []byte

	opts     Options
	accounts map[string]Account
	srv      *server.Server
	ln       net.Listener
	log      *slog.Logger

	mu         sync.Mutex
	logins     []Login
	pending    map[*server.Conn]*Login
	conns      map[net.Conn]struct{}
	localAddrs map[string]struct{}
	closed     bool

	wg        sync.WaitGroup
	closeOnce sync.Once
	stopCtx   func() bool
}

// Start listens on a loopback port and serves until Close or until ctx is
// cancelled. Errors are configuration errors (unknown plugin, non-loopback
// address) or listen errors; they are not worth retrying.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DefaultPlugin == "" {
		opts.DefaultPlugin = PluginCachingSHA2
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if !validPlugin(opts.DefaultPlugin) {
		return nil, fmt.Errorf("options.DefaultPlugin %q: want one of %s, %s, %s, %s", opts.DefaultPlugin,
			PluginNative, PluginCachingSHA2, PluginSHA256, PluginClearPassword)
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("options.Addr %q: %w", opts.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("options.Addr %q: only loopback addresses are allowed", opts.Addr)
	}
	accounts := make(map[string]Account, len(opts.Accounts))
	for i, a := range opts.Accounts {
		if a.Plugin == "" {
			a.Plugin = opts.DefaultPlugin
		}
		if !validPlugin(a.Plugin) {
			return nil, fmt.Errorf("options.Accounts[%d].Plugin %q: unknown plugin", i, a.Plugin)
		}
		if _, dup := accounts[a.User]; dup {
			return nil, fmt.Errorf("options.Accounts[%d].User %q: duplicate user", i, a.User)
		}
		accounts[a.User] = a
	}
	key, err := rsaKey()
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	s := &Server{
		CAPEM:      opts.CAPEM,
		opts:       opts,
		accounts:   accounts,
		conns:      make(map[net.Conn]struct{}),
		localAddrs: make(map[string]struct{}),
		pending:    make(map[*server.Conn]*Login),
		log:        opts.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var tlsCfg *tls.Config
	if opts.TLS != nil {
		tlsCfg = opts.TLS.Clone()
	}
	s.srv = server.NewServerWithAuth(opts.Version, mysql.DEFAULT_COLLATION_ID, opts.DefaultPlugin, key, tlsCfg, &authProvider{s: s})

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	tcp := ln.Addr().(*net.TCPAddr)
	s.Addr = tcp.String()
	s.Host = tcp.IP.String()
	s.Port = tcp.Port
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })

	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Close stops the listener, closes every connection and waits for all
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.stopCtx != nil {
			s.stopCtx()
		}
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("close listener: %w", cerr)
		}
		s.wg.Wait()
	})
	return err
}

// InvalidateCache emulates FLUSH PRIVILEGES: the next caching_sha2_password
// login of every account takes the full-authentication path.
func (s *Server) InvalidateCache() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr := range s.localAddrs {
		for user := range s.accounts {
			s.srv.InvalidateCache(user, addr)
		}
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // listener closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.localAddrs[c.LocalAddr().String()] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = raw.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	h := &queryHandler{s: s}
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	sc := &sniffConn{Conn: raw}
	conn, err := s.srv.NewCustomizedConn(sc, &connAuth{Server: s, sniff: sc}, h)
	if err != nil {
		s.log.Info("sim: connection phase failed", "remote", raw.RemoteAddr().String(), "err", err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	h.conn = conn
	for !conn.Closed() {
		if err := conn.HandleCommand(); err != nil {
			return
		}
	}
}

func validPlugin(p string) bool {
	switch p {
	case PluginNative, PluginCachingSHA2, PluginSHA256, PluginClearPassword:
		return true
	}
	return false
}

// isTLS reports whether the connection was upgraded to TLS.
func isTLS(c *server.Conn) (*tls.Conn, bool) {
	if c == nil || c.Conn == nil {
		return nil, false
	}
	t, ok := c.Conn.Conn.(*tls.Conn)
	return t, ok
}

// accessDenied is the 1045 error MySQL sends, host without the port.
func accessDenied(c *server.Conn) *mysql.MyError {
	host := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return mysql.NewDefaultError(mysql.ER_ACCESS_DENIED_ERROR, c.GetUser(), host, "YES")
}

// GetCredential implements server.AuthenticationHandler. An unknown user gets
// a random password with the default plugin, so the exchange runs to the end
// and fails with 1045 instead of the library's 1449.
func (s *Server) GetCredential(user string) (server.Credential, bool, error) {
	a, ok := s.accounts[user]
	if !ok {
		return server.Credential{Passwords: []string{randomSecret()}, AuthPluginName: s.opts.DefaultPlugin}, true, nil
	}
	pw := a.Password
	if a.Plugin == PluginClearPassword && pw == "" {
		pw = randomSecret() // checked by authProvider, never by the library
	}
	return server.Credential{Passwords: []string{pw}, AuthPluginName: a.Plugin}, true, nil
}

// OnAuthSuccess implements server.AuthenticationHandler: it enforces
// RequireTLS after the password was checked, as MySQL does for REQUIRE SSL,
// then Options.RequireSecureTransport.
func (s *Server) OnAuthSuccess(c *server.Conn) error {
	a, ok := s.accounts[c.GetUser()]
	if !ok {
		return accessDenied(c) // unreachable: unknown users never authenticate
	}
	_, tlsOK := isTLS(c)
	if a.RequireTLS && !tlsOK {
		s.log.Info("sim: account requires TLS", "user", a.User)
		s.finishLogin(c, false, "account requires TLS")
		return accessDenied(c)
	}
	if s.opts.RequireSecureTransport && !tlsOK {
		s.log.Info("sim: require_secure_transport refuses plain TCP", "user", a.User)
		s.finishLogin(c, false, "require_secure_transport")
		return mysql.NewError(ErrSecureTransportRequired, MsgSecureTransportRequired)
	}
	s.finishLogin(c, true, "")
	if s.opts.CachingSHA2OnlyOverTLS {
		s.srv.InvalidateCache(a.User, c.LocalAddr().String()) // no fast-auth cache
	}
	return nil
}

// connAuth is the per-connection authentication handler: the Server's,
// plus Options.ProxyRequiresTLS, which needs to know whether this
// connection asked for TLS before the first credential lookup.
type connAuth struct {
	*Server
	sniff *sniffConn
}

// GetCredential refuses a connection without TLS when the server plays a
// proxy that requires TLS; go-mysql writes the *mysql.MyError as it is.
func (a *connAuth) GetCredential(user string) (server.Credential, bool, error) {
	if a.opts.ProxyRequiresTLS && !a.sniff.tlsRequested() {
		a.log.Info("sim: proxy requires TLS", "user", user)
		return server.Credential{}, false, mysql.NewError(ErrProxyInsecure, MsgProxyInsecure)
	}
	return a.Server.GetCredential(user)
}

// sniffConn notes whether the client's first packet was an SSLRequest (a
// 32-byte payload: capabilities, max packet, charset, 23 filler bytes)
// rather than a HandshakeResponse41.
type sniffConn struct {
	net.Conn
	mu   sync.Mutex
	head []byte // the first 4 bytes the client sent
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if need := 4 - len(c.head); need > 0 {
		c.head = append(c.head, p[:min(n, need)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *sniffConn) tlsRequested() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.head) < 4 {
		return false
	}
	n := int(c.head[0]) | int(c.head[1])<<8 | int(c.head[2])<<16
	return n == 32
}

// OnAuthFailure implements server.AuthenticationHandler.
func (s *Server) OnAuthFailure(c *server.Conn, err error) {
	s.log.Info("sim: authentication failed", "user", c.GetUser(), "err", err)
	s.finishLogin(c, false, err.Error())
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "unknown-" + hex.EncodeToString(b)
}

// authProvider adds mysql_clear_password to the library's provider.
type authProvider struct {
	s   *Server
	def server.DefaultAuthenticationProvider
}

// Validate accepts the four server-side plugins.
func (p *authProvider) Validate(plugin string) bool { return validPlugin(plugin) }

// Authenticate handles mysql_clear_password and the modes without an RSA
// key, and delegates the rest.
func (p *authProvider) Authenticate(c *server.Conn, plugin string, data []byte) error {
	calls := p.s.noteAuth(c, plugin, data)
	if _, tlsOK := isTLS(c); !tlsOK && (p.s.opts.NoRSAKey || p.s.opts.CachingSHA2OnlyOverTLS) {
		// The answer to "perform full authentication" (a public-key request
		// or an RSA-encrypted password), or any sha256_password data: without
		// keys MySQL returns CR_ERROR before looking at it, which the client
		// sees as 1045 for 'user'@'host' (a *mysql.MyError is sent as is).
		if plugin == PluginCachingSHA2 && calls >= 2 || plugin == PluginSHA256 {
			p.s.log.Info("sim: full authentication over plain TCP without an RSA key", "user", c.GetUser(), "plugin", plugin)
			return accessDenied(c)
		}
	}
	if plugin != PluginClearPassword {
		return p.def.Authenticate(c, plugin, data)
	}
	s := p.s
	user := c.GetUser()
	a, ok := s.accounts[user]
	if !ok || a.Plugin != PluginClearPassword {
		return fmt.Errorf("%w: clear password for a non-clear account", server.ErrAccessDenied)
	}
	_, tlsOK := isTLS(c)
	if !tlsOK && !s.opts.AllowClearPasswordWithoutTLS {
		return fmt.Errorf("%w: mysql_clear_password over a connection without TLS", server.ErrAccessDenied)
	}
	// string<EOF> or string<NUL>: drop one trailing NUL.
	if n := len(data); n > 0 && data[n-1] == 0 {
		data = data[:n-1]
	}
	secret := string(data)
	if s.opts.ClearPasswordVerifier != nil {
		if err := s.opts.ClearPasswordVerifier(user, secret, tlsOK); err != nil {
			return fmt.Errorf("%w: verifier: %w", server.ErrAccessDenied, err)
		}
		return nil
	}
	if a.Password == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(a.Password)) != 1 {
		return fmt.Errorf("%w: wrong clear password", server.ErrAccessDenied)
	}
	return nil
}

// String describes the server for test logs.
func (s *Server) String() string {
	return "sim " + s.opts.Version + " at " + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// Login is what the server saw of one connection phase, for tests that must
// prove which path a real client took.
type Login struct {
	// User is the user name the client sent.
	User string
	// Plugin is the last plugin the server authenticated with.
	Plugin string
	// TLS is true when the connection was upgraded to TLS.
	TLS bool
	// FastAuth is true when caching_sha2_password succeeded from the cache.
	FastAuth bool
	// FullAuth is true when caching_sha2_password (or sha256_password) took
	// the full-authentication path.
	FullAuth bool
	// PublicKeyRequested is true when the client asked for the server's RSA
	// public key (0x02 for caching_sha2_password, 0x01 for sha256_password).
	PublicKeyRequested bool
	// OK is true when the login succeeded.
	OK bool
	// Reason is the server-side failure reason (never shown to the client).
	Reason string
	calls  int
}

// Logins returns every finished connection phase so far, oldest first.
func (s *Server) Logins() []Login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Login(nil), s.logins...)
}

// noteAuth records one Authenticate call and returns how many calls this
// plugin has had on c (2 or more for caching_sha2_password is full auth).
func (s *Server) noteAuth(c *server.Conn, plugin string, data []byte) int {
	_, tlsOK := isTLS(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.pending[c]
	if l == nil {
		l = &Login{User: c.GetUser()}
		s.pending[c] = l
	}
	if l.Plugin != plugin {
		l.calls = 0
	}
	l.Plugin, l.TLS = plugin, tlsOK
	l.calls++
	switch plugin {
	case PluginCachingSHA2:
		if l.calls >= 2 {
			l.FullAuth = true
			if len(data) == 1 && data[0] == 0x02 {
				l.PublicKeyRequested = true
			}
		}
	case PluginSHA256:
		if len(data) == 1 && data[0] == 0x01 {
			l.PublicKeyRequested = true
		}
	}
	return l.calls
}

func (s *Server) finishLogin(c *server.Conn, ok bool, reason string) {
	_, tlsOK := isTLS(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.pending[c]
	delete(s.pending, c)
	if l == nil {
		l = &Login{User: c.GetUser()}
	}
	l.TLS, l.OK, l.Reason = tlsOK, ok, reason
	if l.Plugin == PluginCachingSHA2 && !l.FullAuth && ok {
		l.FastAuth = true
	}
	s.logins = append(s.logins, *l)
}
