package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprofAddrLoopbackOnly checks that --pprof takes only an IP loopback
// address: never a wildcard, a host name or another interface.
func TestPprofAddrLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"":               true, // off
		"127.0.0.1:6060": true,
		"127.0.0.2:0":    true,
		"[::1]:6060":     true,
		"0.0.0.0:6060":   false,
		":6060":          false,
		"[::]:6060":      false,
		"localhost:6060": false,
		"192.0.2.1:6060": false,
		"127.0.0.1":      false, // no port
	} {
		if err := checkPprofAddr(addr); (err == nil) != ok {
			t.Errorf("checkPprofAddr(%q) = %v, want ok %v", addr, err, ok)
		}
	}
	code, out, errOut := daemon(context.Background(), "--dev", "--config", writeConfig(t, goodConfig), "--listen", freeAddr(t), "--pprof", "0.0.0.0:6060")
	if code != 2 || !strings.Contains(errOut, "--pprof serves on a loopback IP address only") {
		t.Errorf("--pprof 0.0.0.0:6060: exit %d, want 2 with the reason: %s%s", code, out, errOut)
	}
}

// TestPprofServesProfiles runs the daemon with --pprof on loopback and
// reads a CPU profile and the index from it, and checks the listener is
// gone once the daemon stopped.
func TestPprofServesProfiles(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		_, _, errOut := daemon(ctx, "--dev", "--config", writeConfig(t, goodConfig), "--listen", freeAddr(t), "--pprof", addr)
		done <- errOut
	}()
	cl := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, []byte, error) {
		resp, err := cl.Get("http://" + addr + path)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := get("/debug/pprof/")
		if err == nil && code == http.StatusOK && strings.Contains(string(body), "goroutine") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pprof index on %s: %d %v", addr, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body, err := get("/debug/pprof/profile?seconds=1"); err != nil || code != http.StatusOK || len(body) == 0 {
		t.Errorf("CPU profile: %d, %d bytes, %v", code, len(body), err)
	}
	cancel()
	var logs string
	select {
	case logs = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if !strings.Contains(logs, "profiling listener on (--pprof)") {
		t.Errorf("no warning logged for --pprof:\n%s", logs)
	}
	if _, _, err := get("/debug/pprof/"); err == nil {
		t.Error("the pprof listener still answers after the daemon stopped")
	}
}

// TestPprofOffByDefault checks that without --pprof nothing listens.
func TestPprofOffByDefault(t *testing.T) {
	bound, stop, err := servePprof("", slog.New(slog.DiscardHandler))
	if err != nil || bound != nil {
		t.Fatalf("servePprof(\"\") = %v, %v; want off", bound, err)
	}
	stop()
}
