package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/policy"
)

const secEndpoint = "endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n"

// mtlsHead turns on mTLS with files that exist (their content is not read
// by Validate).
const mtlsHead = "tls: {cert: testdata/ca.pem, key: testdata/ca.pem, client_ca: testdata/ca.pem}\n"

func TestValidateSecurity(t *testing.T) {
	tests := []struct {
		name, head string
		wantPaths  []string
	}{
		{"policy with mtls", mtlsHead + "policy:\n  - caller: spiffe://prod/ns/*/sa/api\n    endpoints: [a, 'b-*']\n    users: [u]\n", nil},
		{"policy without identities", "policy:\n  - caller: x\n    endpoints: [a]\n", []string{"policy"}},
		{"empty caller", mtlsHead + "policy:\n  - endpoints: [a]\n", []string{"policy[0].caller"}},
		{"no endpoints", mtlsHead + "policy:\n  - caller: x\n", []string{"policy[0].endpoints"}},
		{"bad globs", mtlsHead + "policy:\n  - caller: 'spiffe://**/x'\n    endpoints: ['[a']\n    users: ['u**']\n", []string{"policy[0].caller", "policy[0].endpoints[0]", "policy[0].users[0]"}},
		{"audit stdout", "audit: {output: stdout}\n", nil},
		{"audit absolute file", "audit: {output: /var/log/connbroker/audit.jsonl}\n", nil},
		{"audit relative file", "audit: {output: audit.jsonl}\n", []string{"audit.output"}},
		{"negative rate", "limits: {issue_rate: -1}\n", []string{"limits.issue_rate"}},
		{"unix socket with policy", "unix: {path: /run/cb.sock}\npolicy:\n  - caller: 'uid:1000'\n    endpoints: [a]\n", nil},
		{"unix relative path", "unix: {path: cb.sock}\n", []string{"unix.path"}},
		{"unix world mode", "unix: {path: /run/cb.sock, mode: '0666'}\n", []string{"unix.mode"}},
		{"unix 0660 without group", "unix: {path: /run/cb.sock, mode: '0660'}\n", []string{"unix.group"}},
		{"unix group without path", "unix: {group: db}\n", []string{"unix.path"}},
		{"watch poll too short", "watch: {poll: 10ms}\n", []string{"watch.poll"}},
		{"watch poll", "watch: {poll: 250ms}\n", nil},
		{"negative burst", "limits: {issue_burst: -1}\n", []string{"limits.issue_burst"}},
		{"unknown policy key", mtlsHead + "policy:\n  - caller: x\n    endpoint: [a]\n", []string{"<yaml>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("x", []byte(tt.head+secEndpoint))
			if tt.wantPaths == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want problems at %v", c, tt.wantPaths)
			}
			got := slices.DeleteFunc(problemPaths(t, err), func(p string) bool { return p == "endpoints.a.password" })
			if diff := cmp.Diff(tt.wantPaths, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

func TestSecurityDefaults(t *testing.T) {
	c, err := Parse("x", []byte(secEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.IssueRate != DefaultIssueRate || c.Limits.IssueBurst != DefaultIssueBurst || c.Audit.Output != "" || c.IdentitiesInUse() {
		t.Errorf("defaults: limits %+v audit %+v identities %v", c.Limits, c.Audit, c.IdentitiesInUse())
	}
	c, err = Parse("x", []byte(mtlsHead+"policy:\n  - caller: spiffe://a/b\n    endpoints: ['*']\n"+secEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Policy{Rules: []policy.Rule{{Caller: "spiffe://a/b", Endpoints: []string{"*"}}}}
	if diff := cmp.Diff(want, c.PolicyOf()); diff != "" || !c.IdentitiesInUse() {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
}

func TestVerifyCARejectsSystemCA(t *testing.T) {
	for _, auth := range []string{"iam", "password"} {
		t.Run(auth, func(t *testing.T) {
			y := "endpoints:\n  orders:\n    host: orders.cluster-abc.us-east-1.rds.amazonaws.com\n    user: app\n    auth: " + auth + "\n    tls: {mode: verify-ca}\n"
			if auth == "password" {
				y += "    password: {env: PW}\n"
			}
			_, err := Parse("t", []byte(y))
			if err == nil || !strings.Contains(err.Error(), "endpoints.orders.tls.ca") || !strings.Contains(err.Error(), "verify-identity") {
				t.Fatalf("err = %v, want endpoints.orders.tls.ca rejected with a fix", err)
			}
			if _, err := Parse("t", []byte(strings.Replace(y, "{mode: verify-ca}", "{mode: verify-ca, ca: testdata/ca.pem}", 1))); err != nil {
				t.Fatalf("verify-ca with a private CA: %v", err)
			}
		})
	}
}

func TestSecurityWarnings(t *testing.T) {
	y := `endpoints:
  a:
    host: h
    user: u
    auth: password
    password: {env: PW}
    tls: {mode: required}
  b:
    host: h
    user: u
    auth: password
    password: {env: PW}
    plugin: caching_sha2_password
    tls: {mode: disabled}
  c:
    host: h
    user: u
    auth: password
    password: {env: PW}
    tls: {mode: verify-identity}
`
	c, err := Parse("t", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.SecurityWarnings() {
		got = append(got, w.Path)
		if w.Reason == "" {
			t.Errorf("%s: no reason", w.Path)
		}
	}
	want := []string{"endpoints.a.tls.mode", "endpoints.b.tls.mode", "endpoints.b.plugin"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("warnings = %v, want %v", got, want)
	}
}
