package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigWarnsWhereASecretCouldLeaveUnverified(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	y := "endpoints:\n  legacy:\n    host: 127.0.0.1\n    user: app\n    auth: password\n    password: {env: PW}\n    tls: {mode: required}\n" +
		"  safe:\n    host: 127.0.0.1\n    user: app\n    auth: password\n    password: {env: PW}\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"--config", path, "--check-config"}, func(string) (string, bool) { return "", false }, &out, &errOut); err != nil {
		t.Fatalf("run: %v (%s)", err, errOut.String())
	}
	s := out.String()
	if !strings.Contains(s, "warning: endpoints.legacy.tls.mode: required does not verify") || strings.Contains(s, "endpoints.safe") {
		t.Errorf("output:\n%s", s)
	}
}
