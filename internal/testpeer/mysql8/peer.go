package mysql8test

import (
	"context"
	"testing"

	"github.com/connbroker/connbroker/broker/preflight/sim"
)

// The server lives in broker/preflight/sim, where preflight runs it in
// process as the endpoint would be after a change; these names keep the
// tests' spelling.
type (
	// Account is sim.Account.
	Account = sim.Account
	// Options is sim.Options.
	Options = sim.Options
	// Server is sim.Server.
	Server = sim.Server
	// Login is sim.Login.
	Login = sim.Login
)

// Plugins, versions and the error numbers of the server modes (sim's).
const (
	PluginNative               = sim.PluginNative
	PluginCachingSHA2          = sim.PluginCachingSHA2
	PluginSHA256               = sim.PluginSHA256
	PluginClearPassword        = sim.PluginClearPassword
	DefaultVersion             = sim.DefaultVersion
	ErrSecureTransportRequired = sim.ErrSecureTransportRequired
	MsgSecureTransportRequired = sim.MsgSecureTransportRequired
	ErrProxyInsecure           = sim.ErrProxyInsecure
	MsgProxyInsecure           = sim.MsgProxyInsecure
)

// Start is sim.Start.
func Start(ctx context.Context, opts Options) (*Server, error) { return sim.Start(ctx, opts) }

// GenerateTLS is sim.GenerateTLS.
var GenerateTLS = sim.GenerateTLS

// GenerateTLSFor is sim.GenerateTLSFor.
var GenerateTLSFor = sim.GenerateTLSFor

// StartForTest starts a server whose Close is registered with t.Cleanup. It
// stops the test with a clear message when the server cannot start.
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("mysql8test: start MySQL 8 protocol peer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("mysql8test: close peer %s: %v", s.Addr, err)
		}
	})
	return s
}
