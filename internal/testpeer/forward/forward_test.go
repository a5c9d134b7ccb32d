package forward

import (
	"bufio"
	"net"
	"testing"
)

// TestForwards echoes a line through the forwarder on another loopback
// address than the target's.
func TestForwards(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = c.Write([]byte("echo " + line))
			}()
		}
	}()
	f := StartForTest(t, "127.0.0.2:0", ln.Addr().String())
	if h, _, _ := net.SplitHostPort(f.Addr); h != "127.0.0.2" {
		t.Fatalf("forwarder listens on %s", f.Addr)
	}
	c, err := net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "echo hi\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if f.Accepted() != 1 {
		t.Errorf("accepted %d", f.Accepted())
	}
	if err := f.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
