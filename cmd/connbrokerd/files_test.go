package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// L3: a FIFO or /dev/zero named as a password or CA file is refused by
// --check-config (and at start) with a clear error, at once: a FIFO no
// longer hangs start-up and /dev/zero no longer passes the check.
func TestCheckConfigRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"fifo password", "password: {file: %s}\n    tls: {mode: disabled}", "is a FIFO"},
		{"dev zero password", "password: {file: %s}\n    tls: {mode: disabled}", "is a character device"},
		{"fifo CA", "password: {env: PW}\n    tls: {mode: verify-identity, ca: %s}", "is a FIFO"},
		{"dev zero CA", "password: {env: PW}\n    tls: {mode: verify-identity, ca: %s}", "is a character device"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := fifo
			if strings.Contains(tt.name, "zero") {
				file = "/dev/zero"
			}
			cfg := writeConfig(t, "endpoints:\n  a:\n    host: db.internal\n    user: u\n    auth: password\n    "+fmt.Sprintf(tt.yaml, file)+"\n")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			for _, args := range [][]string{{"--check-config", "--config", cfg}, {"--config", cfg}} {
				code, _, errOut := daemon(ctx, args...)
				if code != 2 || !strings.Contains(errOut, tt.want) {
					t.Errorf("connbrokerd %v: exit %d, stderr %q; want 2 and %q", args, code, errOut, tt.want)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// L3: a group- or world-readable password file is accepted with a warning.
func TestCheckConfigWarnsAboutReadableSecretFiles(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "endpoints:\n  a:\n    host: db.internal\n    user: u\n    auth: password\n    password: {file: "+pw+"}\n    tls: {mode: disabled}\n")
	code, out, errOut := daemon(context.Background(), "--check-config", "--config", cfg)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "warning: endpoints.a.password.file") || !strings.Contains(errOut, "readable by group and others") {
		t.Errorf("no warning for a 0644 password file: %q", errOut)
	}
}
