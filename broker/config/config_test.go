package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadValid(t *testing.T) {
	c, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	o := c.Endpoints["orders"]
	want := Endpoint{
		Name: "orders", Host: "orders.proxy-abc123.us-west-2.rds.amazonaws.com", Port: 3306,
		User: "app_orders", Database: "orders", Auth: AuthIAM, Plugin: "mysql_clear_password",
		Region: "us-west-2",
		TLS:    EndpointTLS{Mode: TLSVerifyIdentity, CA: CASystem, ServerName: "orders.proxy-abc123.us-west-2.rds.amazonaws.com"},
	}
	if diff := cmp.Diff(want, *o); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
	if r := c.Endpoints["reports"]; len(r.TLS.CAPEM) == 0 || r.Port != 3307 || r.TLS.Mode != TLSVerifyCA {
		t.Errorf("reports = %+v, want CA loaded, port 3307, verify-ca", r)
	}
	if c.Validation.Timeout != 5*time.Second || c.Validation.MaxConcurrent != 2 || c.Log.Format != "json" {
		t.Errorf("validation/log = %+v %+v", c.Validation, c.Log)
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Parse("x", []byte("endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Validation.Timeout != 10*time.Second || c.Validation.MaxConcurrent != 4 {
		t.Errorf("defaults: %+v", c)
	}
	if e := c.Endpoints["a"]; e.Port != 3306 || e.TLS.Mode != TLSVerifyIdentity || e.TLS.CA != CASystem || e.TLS.ServerName != "h" {
		t.Errorf("endpoint defaults: %+v", e)
	}
}

// problemPaths returns the sorted field paths of a config error.
func problemPaths(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not match ErrInvalid")
	}
	var paths []string
	for _, p := range ce.Problems {
		var fe *FieldError
		if !errors.As(p, &fe) {
			t.Fatalf("problem %v is not a FieldError", p)
		}
		if fe.Fix == "" {
			t.Errorf("problem %q has no fix", fe.Error())
		}
		paths = append(paths, fe.Path)
	}
	sort.Strings(paths)
	return paths
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		file      string
		wantPaths []string
		wantText  []string
	}{
		{"testdata/unknown_key.yaml", []string{"<yaml>"}, []string{`unknown key "pasword" at line 7`}},
		{"testdata/bad_syntax.yaml", []string{"<yaml>"}, []string{"line"}},
		{"testdata/many_problems.yaml", []string{
			"endpoints.Bad_Name", "endpoints.Bad_Name.auth",
			"endpoints.orders.host", "endpoints.orders.port", "endpoints.orders.region",
			"endpoints.orders.tls.mode", "endpoints.orders.user",
			"endpoints.reports.password.file", "listen",
		}, []string{"70000 is out of range", `unknown method "kerberos"`, "would send an IAM token without verifying", "testdata/does-not-exist", "off loopback"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(tt.file)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if diff := cmp.Diff(tt.wantPaths, problemPaths(t, err)); diff != "" {
				t.Errorf("problem paths (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	base := func() string {
		return "endpoints:\n  a:\n    host: h\n    user: u\n"
	}
	tests := []struct {
		name, extra, wantPath string
	}{
		{"missing auth", "", "endpoints.a.auth"},
		{"password without source", "    auth: password\n", "endpoints.a.password"},
		{"both file and env", "    auth: password\n    password: {file: testdata/password.txt, env: X}\n", "endpoints.a.password"},
		{"bad env name", "    auth: password\n    password: {env: 'A-B'}\n", "endpoints.a.password.env"},
		{"region on password", "    auth: password\n    region: us-east-1\n    password: {env: P}\n", "endpoints.a.region"},
		{"iam without region", "    auth: iam\n", "endpoints.a.region"},
		{"iam with password", "    auth: iam\n    region: us-east-1\n    password: {env: P}\n", "endpoints.a.password"},
		{"iam with wrong plugin", "    auth: iam\n    region: us-east-1\n    plugin: mysql_native_password\n", "endpoints.a.plugin"},
		{"unknown plugin", "    auth: password\n    password: {env: P}\n    plugin: kerberos\n", "endpoints.a.plugin"},
		{"clear text unverified", "    auth: password\n    password: {env: P}\n    plugin: mysql_clear_password\n    tls: {mode: required}\n", "endpoints.a.tls.mode"},
		{"unreadable ca", "    auth: password\n    password: {env: P}\n    tls: {ca: /nonexistent/ca.pem}\n", "endpoints.a.tls.ca"},
		{"ca without pem", "    auth: password\n    password: {env: P}\n    tls: {ca: testdata/password.txt}\n", "endpoints.a.tls.ca"},
		{"minimal valid", "    auth: password\n    password: {env: P}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x", []byte(base()+tt.extra))
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			if got := problemPaths(t, err); !slices.Contains(got, tt.wantPath) {
				t.Errorf("paths %v lack %q: %v", got, tt.wantPath, err)
			}
		})
	}
}

func TestValidateListenAndTLS(t *testing.T) {
	ep := "endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n"
	for _, tt := range []struct {
		name, head string
		ok         bool
	}{
		{"loopback", "listen: 127.0.0.1:1\n", true},
		{"ipv6 loopback", "listen: '[::1]:1'\n", true},
		{"all interfaces without tls", "listen: 0.0.0.0:1\n", false},
		{"insecure opt-in", "listen: 0.0.0.0:1\ninsecure: true\n", true},
		{"not host:port", "listen: localhost\n", false},
		{"cert without key", "tls: {cert: testdata/ca.pem}\n", false},
		{"bad log level", "log: {level: loud}\n", false},
		{"timeout too long", "validation: {timeout: 5m}\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x", []byte(tt.head+ep))
			if (err == nil) != tt.ok {
				t.Fatalf("Parse err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"endpoints:\n  a:\n    host: h\n    user: u\n    auth: iam\n    region: x\n", "listen: [", "endpoints: {a: null}", "",
		mtlsHead + "policy:\n  - caller: 'spiffe://prod/**'\n    endpoints: ['*']\n" + secEndpoint,
		"audit: {output: stdout}\nlimits: {issue_rate: 1.5, issue_burst: 3}\n" + secEndpoint} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err == nil && len(c.Endpoints) == 0 {
			t.Fatal("valid config without endpoints")
		}
	})
}

// TestDial: a valid dial is kept and becomes DialAddr; an unparsable one
// names the field endpoints.NAME.dial and the fix.
func TestDial(t *testing.T) {
	ep := "endpoints:\n  orders:\n    host: db.example\n    user: u\n    auth: password\n    password: {env: P}\n    dial: %s\n"
	c, err := Parse("x", []byte(fmt.Sprintf(ep, `"127.0.0.1:13306"`)))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Endpoints["orders"]; e.DialAddr() != "127.0.0.1:13306" || e.Addr() != "db.example:3306" {
		t.Errorf("DialAddr %q Addr %q", e.DialAddr(), e.Addr())
	}
	for _, bad := range []string{`"127.0.0.1"`, `"localhost:0"`, `":3306"`, `"::1:3306"`, `"h:port"`, `"a b:1"`} {
		_, err := Parse("x", []byte(fmt.Sprintf(ep, bad)))
		if err == nil || !strings.Contains(err.Error(), "endpoints.orders.dial") || !strings.Contains(err.Error(), "HOST:PORT") {
			t.Errorf("dial %s: err = %v", bad, err)
		}
	}
}

// TestEndpointClearText pins which endpoints send their secret in clear
// text: every IAM endpoint, and password endpoints of clear-text accounts.
func TestEndpointClearText(t *testing.T) {
	for _, tc := range []struct {
		auth   AuthMethod
		plugin string
		want   bool
	}{
		{AuthIAM, "", true},
		{AuthIAM, "mysql_clear_password", true},
		{AuthPassword, "mysql_clear_password", true},
		{AuthPassword, "", false},
		{AuthPassword, "caching_sha2_password", false},
		{AuthAuto, "client_ed25519", false},
	} {
		ep := &Endpoint{Auth: tc.auth, Plugin: tc.plugin}
		if got := ep.ClearText(); got != tc.want {
			t.Errorf("Endpoint{Auth: %q, Plugin: %q}.ClearText() = %v, want %v", tc.auth, tc.plugin, got, tc.want)
		}
	}
}
