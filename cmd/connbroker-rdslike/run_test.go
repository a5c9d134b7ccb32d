package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/testlog"
)

func TestRun(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDRDSLIKETEST00001", "AWS_SECRET_ACCESS_KEY": "rdslike-test-secret"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name string
		args []string
		env  func(string) string
		want string
		code int
	}{
		{"no AWS key", nil, func(string) string { return "" }, "AWS_ACCESS_KEY_ID", cli.Usage},
		{"bad password user", []string{"--password-user", "nocolon"}, getenv, "USER:PASSWORD", cli.Usage},
		{"non-loopback listen", []string{"--listen", "0.0.0.0:0"}, getenv, "loopback", cli.Failed},
		{"unknown flag", []string{"--nope"}, getenv, "unknown flag: --nope", cli.Usage},
		{"Go-style single-dash flag", []string{"-listen", "0.0.0.0:0"}, getenv, "loopback", cli.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb testlog.Buffer
			err := run(t.Context(), tc.args, tc.env, &out, &errb)
			if err == nil || !strings.Contains(err.Error()+errb.String(), tc.want) {
				t.Fatalf("run = %v (stderr %q), want an error mentioning %q", err, errb.String(), tc.want)
			}
			if got := cli.Exit("connbroker-rdslike", err, io.Discard); got != tc.code {
				t.Errorf("exit code %d, want %d", got, tc.code)
			}
		})
	}

	t.Run("serves until cancelled", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		ctx, cancel := context.WithCancel(t.Context())
		var out, errb testlog.Buffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--ca-out", ca, "--iam-user", "app_iam"}, getenv, &out, &errb)
		}()
		var addr string
		for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if f := strings.Fields(out.String()); len(f) > 2 && f[0] == "listening" {
				addr = f[2]
			}
		}
		if addr == "" {
			t.Fatalf("no listening line: %q %q", out.String(), errb.String())
		}
		if b, err := os.ReadFile(ca); err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
			t.Fatalf("CA file: %v", err)
		}
		tr, err := (&handshake.Probe{}).Run(t.Context(), handshake.Target{Addr: addr, GreetingOnly: true})
		if err != nil || tr.Greeting.AuthPluginName != "mysql_native_password" || !tr.Greeting.Capabilities.Has(handshake.ClientSSL) {
			t.Fatalf("probe: %v\n%s", err, tr)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errb.String(), "fast-auth cache cleared") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(errb.String(), "fast-auth cache cleared") {
			t.Errorf("SIGHUP did not clear the cache: %q", errb.String())
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	})
}
