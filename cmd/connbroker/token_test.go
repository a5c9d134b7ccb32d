package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

func execOutput(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).Output()
	return string(b), err
}

// TestToken: token prints only the secret; exit codes 1 (no credential),
// 2 (usage, unknown endpoint), 3 (broker unreachable).
func TestToken(t *testing.T) {
	br, _, noSecret := startIAMStack(t)
	if err := os.Remove(noSecret); err != nil {
		t.Fatal(err)
	}
	b := "--broker=" + br.Addr
	code, out, errOut := cli(b, "token", "local-native")
	if code != 0 || out != mariadbtest.NativePassword+"\n" || errOut != "" {
		t.Errorf("password: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, _ = cli(b, "token", "local-iam", "-n")
	if code != 0 || out != secretOf(t, br, "local-iam") || !strings.Contains(out, "X-Amz-Signature=") {
		t.Errorf("iam: exit %d, stdout is not the token", code)
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{b, "token", "no-secret"}, cmdline.Failed, "no credential"},
		{[]string{b, "token", "nope"}, cmdline.Usage, `endpoint "nope" is not configured`},
		{[]string{b, "token"}, cmdline.Usage, "1 argument"},
		{[]string{"--broker=127.0.0.1:1", "token", "local-native"}, cmdline.BrokerUnreachable, "not reachable"},
	} {
		code, out, errOut := cli(tt.args...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d (want %d) stdout %q stderr %q", tt.args, code, tt.code, out, errOut)
		}
	}
}
