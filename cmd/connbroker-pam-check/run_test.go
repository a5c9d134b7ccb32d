package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/internal/cli"
	"github.com/connbroker/connbroker/internal/iamverify"
)

const (
	akid   = "AKIDPAMCHECKTEST0001"
	secret = "pam-check-test-secret-do-not-use"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "pam.log")
	base := iamverify.PolicyFile{
		AccessKeyID: akid, SecretAccessKey: secret, Region: "us-east-1",
		Host: "127.0.0.1", Port: 3399, LogFile: logFile,
	}
	token, err := auth.BuildAuthToken(context.Background(), "127.0.0.1:3399", "us-east-1", "app_iam",
		credentials.NewStaticCredentialsProvider(akid, secret, ""))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		policy     func(*iamverify.PolicyFile)
		args       []string // nil: --policy FILE
		user       string
		stdin      string
		wantCode   int
		wantReason string // "" = no log line expected
	}{
		{name: "accept NUL-terminated", user: "app_iam", stdin: token + "\x00", wantCode: 0, wantReason: "ok"},
		{name: "accept newline-terminated", user: "app_iam", stdin: token + "\n", wantCode: 0, wantReason: "ok"},
		{name: "accept unterminated", user: "app_iam", stdin: token, wantCode: 0, wantReason: "ok"},
		{name: "wrong user", user: "app_other", stdin: token + "\x00", wantCode: 1, wantReason: "wrong_user"},
		{name: "no user", user: "", stdin: token + "\x00", wantCode: 1, wantReason: "error"},
		{name: "expired by clock offset", policy: func(p *iamverify.PolicyFile) { p.ClockOffset = "30m" },
			user: "app_iam", stdin: token + "\x00", wantCode: 1, wantReason: "expired"},
		{name: "other region", policy: func(p *iamverify.PolicyFile) { p.Region = "eu-west-1" },
			user: "app_iam", stdin: token + "\x00", wantCode: 1, wantReason: "wrong_region"},
		{name: "tampered", user: "app_iam", stdin: token[:len(token)-1] + "x\x00", wantCode: 1, wantReason: "malformed"},
		{name: "plain password", user: "app_iam", stdin: "hunter2\x00", wantCode: 1, wantReason: "malformed"},
		{name: "too long", user: "app_iam", stdin: strings.Repeat("a", maxSecret+1), wantCode: 1, wantReason: "error"},
		{name: "bad clock offset", policy: func(p *iamverify.PolicyFile) { p.ClockOffset = "soon" },
			user: "app_iam", stdin: token + "\x00", wantCode: 1, wantReason: "error"},
		{name: "no policy flag", args: []string{}, user: "app_iam", stdin: token, wantCode: 2},
		{name: "unknown flag", args: []string{"--bogus"}, user: "app_iam", stdin: token, wantCode: 2},
		{name: "extra argument", args: []string{"--policy", filepath.Join(dir, "policy.json"), "x"}, user: "app_iam", stdin: token, wantCode: 2},
		{name: "Go-style single-dash flag", args: []string{"-policy", filepath.Join(dir, "policy.json")}, user: "app_iam", stdin: token + "\x00", wantCode: 0, wantReason: "ok"},
		{name: "missing policy file", args: []string{"--policy", filepath.Join(dir, "nope.json")}, user: "app_iam", stdin: token, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(logFile)
			pf := base
			if tc.policy != nil {
				tc.policy(&pf)
			}
			path := filepath.Join(dir, "policy.json")
			if err := iamverify.WritePolicyFile(path, pf); err != nil {
				t.Fatal(err)
			}
			args := tc.args
			if args == nil {
				args = []string{"--policy", path}
			}
			env := map[string]string{"PAM_USER": tc.user, "PAM_SERVICE": "connbroker-test", "PAM_TYPE": "auth"}
			var stderr bytes.Buffer
			err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(tc.stdin), &stderr)
			if got := cli.Exit("connbroker-pam-check", err, &stderr); got != tc.wantCode {
				t.Fatalf("exit code = %d, want %d (err %v)", got, tc.wantCode, err)
			}
			if tc.wantCode == 1 && !errors.Is(err, errRejected) && tc.wantReason != "" {
				t.Errorf("err = %v, want errRejected", err)
			}
			if errors.Is(err, errRejected) && stderr.Len() != 0 {
				t.Errorf("a rejection printed %q; it exits 1 silently", stderr.String())
			}
			for _, out := range []string{stderr.String(), readFile(t, logFile)} {
				if strings.Contains(out, secret) || strings.Contains(out, token[len(token)-64:]) {
					t.Errorf("output leaks the token or secret: %s", out)
				}
			}
			lines := logLines(t, logFile)
			if tc.wantReason == "" {
				if len(lines) != 0 {
					t.Errorf("log lines = %v, want none", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("log has %d lines, want 1: %v", len(lines), lines)
			}
			verdict := "reject"
			if tc.wantCode == 0 {
				verdict = "accept"
			}
			got := map[string]string{"user": lines[0]["user"], "verdict": lines[0]["verdict"], "reason": lines[0]["reason"]}
			want := map[string]string{"user": tc.user, "verdict": verdict, "reason": tc.wantReason}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("log line mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func logLines(t *testing.T, path string) []map[string]string {
	t.Helper()
	var out []map[string]string
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		s := map[string]string{}
		for k, v := range m {
			if str, ok := v.(string); ok {
				s[k] = str
			}
		}
		out = append(out, s)
	}
	return out
}
