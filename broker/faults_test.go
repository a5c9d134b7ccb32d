package broker

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
)

// peer is a loopback TCP server that misbehaves in a chosen way and
// counts the connections it accepted.
type peer struct {
	addr     string
	accepted atomic.Int32
	open     atomic.Int32
	maxOpen  atomic.Int32
}

// settle is how long after an accept the peer samples its open
// connections (see startPeer).
const settle = 50 * time.Millisecond

// startPeer serves behave(conn) for every connection until the test ends.
func startPeer(t *testing.T, behave func(net.Conn)) *peer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{addr: lis.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.open.Add(1)
			var closed atomic.Bool
			// Sample the open count a moment after the accept, not at it:
			// a client that closed its previous connection just before
			// dialling this one is otherwise counted twice while this
			// side has not yet read the close (seen under load).
			time.AfterFunc(settle, func() {
				if n := p.open.Load(); !closed.Load() && n > p.maxOpen.Load() {
					p.maxOpen.Store(n)
				}
			})
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer p.open.Add(-1)
				defer closed.Store(true)
				behave(c)
			}()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// blackhole accepts and never greets; it returns when the client leaves.
func blackhole(c net.Conn) { _, _ = c.Read(make([]byte, 1)); c.Close() }

// garbage greets with bytes that are no MySQL packet.
func garbage(c net.Conn) {
	_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\nthis is not mysql\x00\xff\xfe"))
	_, _ = c.Read(make([]byte, 1))
	c.Close()
}

// diesMidHandshake sends the first part of a greeting, then closes.
func diesMidHandshake(c net.Conn) {
	_, _ = c.Write([]byte{0x4a, 0x00, 0x00, 0x00, 0x0a, '8', '.', '0', '.', '3', '6'})
	c.Close()
}

func faultService(t *testing.T, maxConcurrent int, addrs map[string]string) *Service {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "validation: {max_concurrent: %d}\nendpoints:\n", maxConcurrent)
	for name, addr := range addrs {
		host, port, _ := net.SplitHostPort(addr)
		fmt.Fprintf(&b, "  %s:\n    host: %s\n    port: %s\n    user: app\n    auth: password\n    password: {env: FAULT_PW}\n    tls: {mode: preferred}\n", name, host, port)
	}
	cfg, err := config.Parse("faults", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	pw := credential.NewPasswords(func(string) (string, bool) { return "fault-pw", true })
	return New(cfg, &credential.Router{Password: pw}, nil)
}

// waitGoroutines waits until the goroutine count is back to base (a
// little slack for the runtime's own), or fails.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestValidationFaults: a database that refuses, blackholes, sends garbage
// or dies mid-handshake ends validation within its deadline with a reason,
// and every goroutine returns.
func TestValidationFaults(t *testing.T) {
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()
	tests := []struct {
		name   string
		addr   func(t *testing.T) string
		reason string
	}{
		{"refused", func(*testing.T) string { return refusedAddr }, "refused"},
		{"blackhole", func(t *testing.T) string { return startPeer(t, blackhole).addr }, "timed out"},
		{"garbage", func(t *testing.T) string { return startPeer(t, garbage).addr }, ""},
		{"dies mid-handshake", func(t *testing.T) string { return startPeer(t, diesMidHandshake).addr }, "closed the connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			svc := faultService(t, 4, map[string]string{"db": tt.addr(t)})
			start := time.Now()
			res, err := svc.Validate(context.Background(), ValidateRequest{Endpoints: []string{"db"}, Timeout: time.Second})
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.OK || r.Reason == "" {
				t.Errorf("result ok=%v reason=%q, want a failure with a reason", r.OK, r.Reason)
			}
			if !strings.Contains(strings.ToLower(r.Reason), tt.reason) {
				t.Errorf("reason %q lacks %q", r.Reason, tt.reason)
			}
			if elapsed > 1500*time.Millisecond {
				t.Errorf("validation took %v, deadline was 1s", elapsed)
			}
			t.Logf("%s: %v: %s", tt.name, elapsed.Round(time.Millisecond), r.Reason)
			waitGoroutines(t, base)
		})
	}
}

// TestIdenticalValidationsShareOneLogin: 32 concurrent validations of the
// same endpoint make a single connection to the database.
func TestIdenticalValidationsShareOneLogin(t *testing.T) {
	p := startPeer(t, blackhole)
	svc := faultService(t, 4, map[string]string{"db": p.addr})
	var wg sync.WaitGroup
	results := make([]string, 32)
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := svc.Validate(context.Background(), ValidateRequest{Endpoints: []string{"db"}, Timeout: time.Second})
			if err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = res[0].Reason
		}()
	}
	wg.Wait()
	if n := p.accepted.Load(); n != 1 {
		t.Errorf("database saw %d connections for 32 identical validations, want 1", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shared validations took %v", d)
	}
	for i, r := range results {
		if r != results[0] || r == "" {
			t.Errorf("result %d = %q, want the shared %q", i, r, results[0])
		}
	}
	// A caller that gives up early stops waiting at its own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	res, _ := svc.Validate(ctx, ValidateRequest{Endpoints: []string{"db"}, Timeout: time.Second})
	if d := time.Since(start); d > 500*time.Millisecond || !strings.Contains(res[0].Reason, "abandoned") {
		t.Errorf("early give-up: %v, %q", d, res[0].Reason)
	}
}

// TestValidationConcurrencyCap: with max_concurrent 1, two endpoints of the
// same database are never logged in to at the same time (the second waits
// for the first, and with the same deadline it either is not started or
// runs out of time).
func TestValidationConcurrencyCap(t *testing.T) {
	p := startPeer(t, blackhole)
	svc := faultService(t, 1, map[string]string{"a": p.addr, "b": p.addr})
	res, err := svc.Validate(context.Background(), ValidateRequest{Endpoints: []string{"a", "b"}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if m := p.maxOpen.Load(); m != 1 {
		t.Errorf("%d logins ran at once, cap is 1", m)
	}
	for _, r := range res {
		if r.OK || r.Reason == "" {
			t.Errorf("result %+v: want a failure with a reason", r)
		}
	}
}
