package handshake_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/handshake"
)

// peer serves every connection with fn on a loopback listener.
func peer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// hold keeps the connection open until the client goes away.
func hold(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

func TestProbeRobustness(t *testing.T) {
	greeting := readGolden(t, "mysql8-greeting.bin")
	framed, _ := handshake.AppendPacket(nil, 0, greeting)
	tests := []struct {
		name    string
		serve   func(net.Conn)
		cancel  time.Duration // cancel the context after this long; 0 = never
		stage   handshake.Stage
		check   func(error) bool
		timeout bool
	}{
		{"garbage", func(c net.Conn) { c.Write([]byte{0x05, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0x00}); hold(c) },
			0, handshake.StageGreeting, func(err error) bool { return errors.Is(err, handshake.ErrMalformedPacket) }, false},
		{"HTTP response", func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")); hold(c) },
			0, handshake.StageGreeting, func(err error) bool { return errors.Is(err, handshake.ErrNotMySQL) }, false},
		{"TLS-first server", func(c net.Conn) { c.Write([]byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46}); hold(c) },
			0, handshake.StageGreeting, func(err error) bool { return errors.Is(err, handshake.ErrNotMySQL) }, false},
		{"closes at once", func(c net.Conn) {},
			0, handshake.StageGreeting, func(err error) bool { return errors.Is(err, io.EOF) }, false},
		{"closes mid-greeting", func(c net.Conn) { c.Write(framed[:20]) },
			0, handshake.StageGreeting, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, false},
		{"stalls before greeting", hold,
			0, handshake.StageGreeting, nil, true},
		{"stalls after greeting", func(c net.Conn) { c.Write(framed); hold(c) },
			0, handshake.StageAuth, nil, true},
		{"closes after the handshake response", func(c net.Conn) {
			c.Write(framed)
			_, _, _ = handshake.ReadPacket(c)
		}, 0, handshake.StageAuth, func(err error) bool { return errors.Is(err, io.EOF) }, false},
		{"wrong sequence id", func(c net.Conn) {
			c.Write(framed)
			_, _, _ = handshake.ReadPacket(c)
			c.Write([]byte{1, 0, 0, 9, 0})
			hold(c)
		}, 0, handshake.StageAuth, func(err error) bool { return errors.Is(err, handshake.ErrOutOfSequence) }, false},
		{"unexpected status byte", func(c net.Conn) {
			c.Write(framed)
			_, _, _ = handshake.ReadPacket(c)
			c.Write([]byte{1, 0, 0, 2, 0x42})
			hold(c)
		}, 0, handshake.StageAuth, func(err error) bool { return errors.Is(err, handshake.ErrUnexpectedPacket) }, false},
		{"context cancelled while stalled", hold,
			100 * time.Millisecond, handshake.StageGreeting, func(err error) bool { return errors.Is(err, context.Canceled) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := peer(t, tc.serve)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.cancel > 0 {
				time.AfterFunc(tc.cancel, cancel)
			}
			p := &handshake.Probe{Timeouts: handshake.Timeouts{Greeting: 300 * time.Millisecond, Auth: 300 * time.Millisecond}}
			start := time.Now()
			tr, err := p.Run(ctx, handshake.Target{Addr: addr, User: "u", Secret: "s3cret-value", Profile: handshake.GoSQLDriver(false)})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Run took %v", d)
			}
			var se *handshake.StageError
			if !errors.As(err, &se) || se.Stage != tc.stage {
				t.Fatalf("err = %v, want a StageError at %s", err, tc.stage)
			}
			if se.Timeout() != tc.timeout {
				t.Errorf("Timeout() = %t, want %t (%v)", se.Timeout(), tc.timeout, err)
			}
			if tc.check != nil && !tc.check(err) {
				t.Errorf("err = %v (%#v)", err, se.Err)
			}
			if tr.Outcome.Result != handshake.ResultFailed {
				t.Errorf("result = %s", tr.Outcome.Result)
			}
			if ev, ok := tr.Find(handshake.KindError); !ok || ev.Fields["stage"] != string(tc.stage) {
				t.Errorf("error event = %+v\n%s", ev, tr)
			}
		})
	}
}

func TestProbeDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tr, err := (&handshake.Probe{}).Run(t.Context(), handshake.Target{Addr: addr, Profile: handshake.GoSQLDriver(false)})
	var se *handshake.StageError
	if !errors.As(err, &se) || se.Stage != handshake.StageDial {
		t.Fatalf("err = %v", err)
	}
	if tr.Outcome.Result != handshake.ResultFailed {
		t.Errorf("outcome = %+v", tr.Outcome)
	}
}

func TestParsersRejectTruncation(t *testing.T) {
	for _, file := range []string{"mysql8-greeting.bin", "mariadb-10.11-greeting.bin"} {
		b := readGolden(t, file)
		for n := range 36 {
			if _, err := handshake.ParseGreeting(b[:n]); !errors.Is(err, handshake.ErrMalformedPacket) {
				t.Errorf("%s[:%d]: err = %v, want ErrMalformedPacket", file, n, err)
			}
		}
	}
}
