// Package forward is a TCP forwarder for tests: a stand-in for an SSH or
// SSM port forward, a sidecar or a local proxy in front of a database. It
// listens on a loopback address of the caller's choosing and copies bytes
// both ways to a target, so a test can reach a peer through an address its
// certificate does not name (endpoint key dial).
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Forwarder copies every connection accepted on Addr to Target.
type Forwarder struct {
	// Addr is the listening address, "host:port".
	Addr string
	// Target is where connections go.
	Target string

	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted atomic.Int64
	closed   atomic.Bool
}

// Start listens on listen ("127.0.0.2:0" picks a free port on that
// loopback address) and forwards to target until Close.
func Start(listen, target string) (*Forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("forward: listen %s: %w", listen, err)
	}
	f := &Forwarder{Addr: ln.Addr().String(), Target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// StartForTest is Start that fails t when the forwarder cannot start and
// closes it in t.Cleanup.
func StartForTest(t testing.TB, listen, target string) *Forwarder {
	t.Helper()
	f, err := Start(listen, target)
	if err != nil {
		t.Fatalf("start forwarder: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Accepted is the number of connections accepted so far.
func (f *Forwarder) Accepted() int64 { return f.accepted.Load() }

func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		f.accepted.Add(1)
		f.wg.Add(1)
		go f.pipe(c)
	}
}

func (f *Forwarder) track(c net.Conn, on bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		if f.closed.Load() {
			return false
		}
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *Forwarder) pipe(c net.Conn) {
	defer f.wg.Done()
	var d net.Dialer
	up, err := d.DialContext(context.Background(), "tcp", f.Target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !f.track(c, true) || !f.track(up, true) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	defer func() {
		_ = c.Close()
		_ = up.Close()
		f.track(c, false)
		f.track(up, false)
	}()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// Close stops listening, closes every forwarded connection and waits for
// the goroutines.
func (f *Forwarder) Close() error {
	if f.closed.Swap(true) {
		return nil
	}
	err := f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
