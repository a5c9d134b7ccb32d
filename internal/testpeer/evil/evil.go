// Package evil is a hostile MySQL peer for attack tests: a raw TCP server
// that tries to obtain the client's secret, and a man in the middle that
// strips TLS from a real server's greeting. Both record everything the
// client sent them (after their own TLS, in plain text) and, for the RSA
// modes, the plain text they recover with their own private key, so a test
// can look for the secret byte for byte in Received.
package evil

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/connbroker/connbroker/broker/handshake"
)

// Mode is what the fake server asks the client for after its greeting.
type Mode int

// Modes.
const (
	// SwitchClearText switches to mysql_clear_password.
	SwitchClearText Mode = iota
	// SwitchSHA256 switches to sha256_password and hands out its own RSA
	// key when asked.
	SwitchSHA256
	// CachingSHA2FullAuth switches to caching_sha2_password, asks for full
	// authentication and hands out its own RSA key when asked.
	CachingSHA2FullAuth
)

// Options configure a Server.
type Options struct {
	// Mode is what to ask for.
	Mode Mode
	// TLS, when set, is offered (a certificate of the attacker's own);
	// nil offers no TLS.
	TLS *tls.Config
	// Upstream, when set, makes the server a man in the middle in front of
	// this address instead: it forwards everything and clears CLIENT_SSL in
	// the greeting (TLS stripping). Mode and TLS are ignored.
	Upstream string
}

// Server is a running hostile peer.
type Server struct {
	// Addr is host:port.
	Addr string

	opts Options
	key  *rsa.PrivateKey
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  bytes.Buffer
	conn int
}

// Start starts a Server on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: o, key: key, ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

// Received is everything clients sent, plus what the server decrypted.
func (s *Server) Received() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.got.Bytes())
}

// Connections is how many connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *Server) record(b []byte) {
	s.mu.Lock()
	s.got.Write(b)
	s.mu.Unlock()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			if s.opts.Upstream != "" {
				s.strip(c)
				return
			}
			s.serve(c)
		}()
	}
}

// recorder records what is read through it.
type recorder struct {
	r io.Reader
	s *Server
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.s.record(p[:n])
	return n, err
}

// strip forwards c to the upstream, clearing CLIENT_SSL in the greeting.
func (s *Server) strip(c net.Conn) {
	up, err := net.Dial("tcp", s.opts.Upstream)
	if err != nil {
		return
	}
	defer up.Close()
	seq, g, err := handshake.ReadPacket(up)
	if err != nil {
		return
	}
	if i := bytes.IndexByte(g[1:], 0); g[0] == 10 && i >= 0 && len(g) > 1+i+1+4+9+2 {
		off := 1 + i + 1 + 4 + 9 // protocol, version NUL, connection id, auth data 1 + filler
		caps := binary.LittleEndian.Uint16(g[off:]) &^ uint16(handshake.ClientSSL)
		binary.LittleEndian.PutUint16(g[off:], caps)
	}
	if _, err := handshake.WritePacket(c, seq, g); err != nil {
		return
	}
	go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	_, _ = io.Copy(up, recorder{c, s})
}

const nonce = "abcdefghijklmnopqrst" // 20 bytes; the attacker picks it

func (s *Server) serve(c net.Conn) {
	var conn net.Conn = c
	caps := handshake.ClientLongPassword | handshake.ClientLongFlag | handshake.ClientConnectWithDB | handshake.ClientProtocol41 |
		handshake.ClientTransactions | handshake.ClientSecureConnection | handshake.ClientPluginAuth | handshake.ClientPluginAuthLenencClientData
	if s.opts.TLS != nil {
		caps |= handshake.ClientSSL
	}
	g := []byte{10}
	g = append(g, "8.0.36-evil\x00"...)
	g = append(g, 1, 0, 0, 0)
	g = append(g, nonce[:8]...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps))
	g = append(g, 255)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, nonce[8:]...)
	g = append(g, 0)
	g = append(g, handshake.PluginNative+"\x00"...)
	if _, err := handshake.WritePacket(conn, 0, g); err != nil {
		return
	}
	read := func() (byte, []byte, bool) {
		seq, p, err := handshake.ReadPacket(recorder{conn, s})
		return seq, p, err == nil
	}
	seq, p, ok := read()
	if !ok {
		return
	}
	if s.opts.TLS != nil && len(p) == 32 {
		tc := tls.Server(c, s.opts.TLS)
		if tc.HandshakeContext(context.Background()) != nil {
			return
		}
		conn = tc
		if seq, p, ok = read(); !ok {
			return
		}
	}
	_ = p
	write := func(payload []byte) bool {
		seq++
		_, err := handshake.WritePacket(conn, seq, payload)
		return err == nil
	}
	deny := func() {
		write(append([]byte{0xff, 0x15, 0x04, '#'}, "28000Access denied (evil)"...))
	}
	var plugin string
	switch s.opts.Mode {
	case SwitchClearText:
		plugin = handshake.PluginClearPassword
	case SwitchSHA256:
		plugin = handshake.PluginSHA256
	case CachingSHA2FullAuth:
		plugin = handshake.PluginCachingSHA2
	}
	sw := append([]byte{0xfe}, plugin+"\x00"...)
	if plugin != handshake.PluginClearPassword {
		sw = append(sw, nonce+"\x00"...)
	}
	if !write(sw) {
		return
	}
	if seq, p, ok = read(); !ok {
		return
	}
	if plugin == handshake.PluginCachingSHA2 {
		if !write([]byte{0x01, 0x04}) { // perform full authentication
			return
		}
		if seq, p, ok = read(); !ok {
			return
		}
	}
	if len(p) == 1 && (p[0] == 0x01 || p[0] == 0x02) && plugin != handshake.PluginClearPassword {
		der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
		if !write(append([]byte{0x01}, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)) {
			return
		}
		if seq, p, ok = read(); !ok {
			return
		}
		if plain, err := rsa.DecryptOAEP(sha1.New(), nil, s.key, p, nil); err == nil {
			for i := range plain {
				plain[i] ^= nonce[i%len(nonce)]
			}
			s.record(plain) // what the attacker recovered
		}
	}
	deny()
}
