package preflight_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/hints"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/broker/preflight/sim"
)

func TestParseChange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    preflight.Change
		wantErr string
	}{
		{in: "plugin=caching_sha2_password", want: preflight.Change{Kind: preflight.KindPlugin, Plugin: "caching_sha2_password"}},
		{in: " auth=IAM ", want: preflight.Change{Kind: preflight.KindAuth}},
		{in: "require-tls", want: preflight.Change{Kind: preflight.KindRequireTLS}},
		{in: "proxy-iam=required", want: preflight.Change{Kind: preflight.KindProxyIAM}},
		{in: "ca=/etc/rds-ca-rsa2048-g1.pem", want: preflight.Change{Kind: preflight.KindCA, CAFile: "/etc/rds-ca-rsa2048-g1.pem"}},
		{in: "driver=node-mysql2@3.22.0", want: preflight.Change{Kind: preflight.KindDriver, Driver: "mysql2", Version: "3.22.0"}},
		{in: "plugin=dialog", wantErr: `unknown plugin "dialog" (valid: caching_sha2_password, mysql_native_password, sha256_password, client_ed25519)`},
		{in: "tls=on", wantErr: `unknown kind "tls"; valid changes: plugin=caching_sha2_password|mysql_native_password|sha256_password|client_ed25519, auth=iam, require-tls, proxy-iam=required, ca=FILE, driver=NAME@VERSION`},
		{in: "auth=password", wantErr: `unknown auth "password" (valid: iam)`},
		{in: "proxy-iam=optional", wantErr: `unknown proxy-iam "optional" (valid: required)`},
		{in: "driver=mysql2", wantErr: "driver needs NAME@VERSION"},
		{in: "driver=odbc@1.0", wantErr: `unknown driver "odbc"`},
		{in: "ca=", wantErr: "ca needs a file"},
		{in: "", wantErr: "empty change"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := preflight.ParseChange(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, preflight.ErrBadChange) {
					t.Fatalf("ParseChange(%q) = %v, want an ErrBadChange containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseChange(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

// envs are application environments as the helpers report them.
var envs = map[string]diagnose.ClientEnvironment{
	"pymysql-1.0.2":  {Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.0.2"}}},
	"pymysql-1.2.4":  {Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}, {Name: "cryptography", Version: "50.0.2"}}},
	"connector-pure": {Driver: "mysql-connector-python-pure", Packages: []diagnose.ClientPackage{{Name: "mysql-connector-python", Version: "26.10.0"}}},
	"mysql2":         {Driver: "mysql2", Packages: []diagnose.ClientPackage{{Name: "mysql2", Version: "3.15.0"}}},
	"go":             {Driver: "go-sql-driver", Packages: []diagnose.ClientPackage{{Name: "github.com/go-sql-driver/mysql", Version: "v1.9.3"}}},
}

func apps() []preflight.App {
	var out []preflight.App
	for k, e := range envs {
		out = append(out, preflight.App{Caller: "spiffe://test/" + k, Env: e, Count: 1})
	}
	return out
}

func endpoint(mode config.TLSMode, caPEM []byte) preflight.Endpoint {
	in := hints.Input{Host: "127.0.0.1", Port: 3306, User: "app", Database: "app", Plugin: "mysql_native_password", TLSMode: mode, HasCA: len(caPEM) > 0}
	return preflight.Endpoint{Name: "orders", Hints: in, CAPEM: caPEM, Diagnose: diagnose.Input{Host: in.Host, Port: in.Port, Plugin: in.Plugin, TLSRequired: mode.Requires()}}
}

// outcomes flattens a report to caller -> after outcome and finding code.
func outcomes(r *preflight.Report) map[string]string {
	out := map[string]string{}
	for _, g := range r.Groups {
		for _, a := range g.Apps {
			if a.Before != preflight.OutcomeWorks {
				out[strings.TrimPrefix(g.Caller, "spiffe://test/")] = "before " + string(a.Before)
				continue
			}
			s := string(a.After)
			if a.Finding != nil {
				s += " " + a.Finding.Code
			}
			out[strings.TrimPrefix(g.Caller, "spiffe://test/")] = s
		}
	}
	return out
}

func TestPredict(t *testing.T) {
	_, otherCA, err := sim.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		ep     preflight.Endpoint
		change string
		also   string // a second change, played together
		caPEM  []byte
		want   map[string]string
	}{
		{name: "PyMySQL 1.0.2 upgraded with caching_sha2", ep: endpoint(config.TLSDisabled, nil), change: "plugin=caching_sha2_password", also: "driver=PyMySQL@1.2.4", want: map[string]string{
			"pymysql-1.0.2":  "works-while-cache-warm rsa-package-missing", // the scramble bug is gone, cryptography is still missing
			"pymysql-1.2.4":  "works",
			"connector-pure": "works-while-cache-warm full-auth-driver-requires-tls",
			"mysql2":         "works",
			"go":             "works",
		}},
		{name: "caching_sha2 over plain TCP", ep: endpoint(config.TLSDisabled, nil), change: "plugin=caching_sha2_password", want: map[string]string{
			"pymysql-1.0.2":  "breaks pymysql-authswitch-fast-auth-bug",
			"pymysql-1.2.4":  "works",
			"connector-pure": "works-while-cache-warm full-auth-driver-requires-tls",
			"mysql2":         "works",
			"go":             "works",
		}},
		{name: "client_ed25519", ep: endpoint(config.TLSVerifyIdentity, []byte("the current CA")), change: "plugin=client_ed25519", want: map[string]string{
			"pymysql-1.0.2": "breaks plugin-unsupported", "pymysql-1.2.4": "breaks plugin-unsupported", // no PyNaCl
			"connector-pure": "breaks plugin-unsupported", "mysql2": "breaks plugin-unsupported", "go": "works", // go-sql-driver has it built in
		}},
		{name: "proxy with IAM required behind verified TLS", ep: endpoint(config.TLSVerifyIdentity, []byte("the current CA")), change: "proxy-iam=required", want: map[string]string{
			"pymysql-1.0.2": "works", "pymysql-1.2.4": "works", "connector-pure": "works", "mysql2": "works", "go": "works",
		}},
		{name: "require-tls on plain TCP", ep: endpoint(config.TLSDisabled, nil), change: "require-tls", want: map[string]string{
			"pymysql-1.0.2": "breaks server-requires-tls", "pymysql-1.2.4": "breaks server-requires-tls",
			"connector-pure": "breaks server-requires-tls", "mysql2": "breaks server-requires-tls", "go": "breaks server-requires-tls",
		}},
		{name: "require-tls with verified TLS", ep: endpoint(config.TLSVerifyIdentity, []byte("the current CA (not the new one)")), change: "require-tls", want: map[string]string{
			"pymysql-1.0.2": "works", "pymysql-1.2.4": "works", "connector-pure": "works", "mysql2": "works", "go": "works",
		}},
		{name: "IAM over plain TCP", ep: endpoint(config.TLSDisabled, nil), change: "auth=iam", want: map[string]string{
			"pymysql-1.0.2": "breaks cleartext-without-tls", "pymysql-1.2.4": "breaks cleartext-without-tls",
			"connector-pure": "breaks cleartext-driver-requires-tls", "mysql2": "breaks cleartext-without-tls", "go": "breaks cleartext-without-tls",
		}},
		{name: "CA rotated to one the bundle lacks", ep: endpoint(config.TLSVerifyIdentity, []byte("the current CA (not the new one)")), change: "ca=new.pem", caPEM: otherCA, want: map[string]string{
			"pymysql-1.0.2": "breaks ca-does-not-verify", "pymysql-1.2.4": "breaks ca-does-not-verify",
			"connector-pure": "breaks ca-does-not-verify", "mysql2": "breaks ca-does-not-verify", "go": "breaks ca-does-not-verify",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := preflight.ParseChange(tc.change)
			if err != nil {
				t.Fatal(err)
			}
			c.CAPEM = tc.caPEM
			changes := []preflight.Change{c}
			if tc.also != "" {
				c2, err := preflight.ParseChange(tc.also)
				if err != nil {
					t.Fatal(err)
				}
				changes = append(changes, c2)
			}
			rep, err := preflight.Predict(context.Background(), tc.ep, preflight.Static{List: map[string][]preflight.App{"orders": apps()}}, changes)
			if err != nil {
				t.Fatal(err)
			}
			if tc.change == "auth=iam" && !strings.Contains(strings.Join(rep.Assumptions, "\n"), "set tls.mode verify-identity") {
				t.Errorf("assumptions %q do not say auth: iam needs verified TLS", rep.Assumptions)
			}
			if rep.Status != preflight.StatusOK {
				t.Errorf("status = %s, want ok", rep.Status)
			}
			if d := cmp.Diff(tc.want, outcomes(rep)); d != "" {
				t.Errorf("outcomes (-want +got):\n%s", d)
			}
			breaks := false
			for _, v := range tc.want {
				breaks = breaks || !strings.HasPrefix(v, "works ") && v != "works"
			}
			if rep.AnyBreaks != breaks || rep.AllClear() == breaks {
				t.Errorf("AnyBreaks = %t, AllClear = %t; want breaks %t", rep.AnyBreaks, rep.AllClear(), breaks)
			}
		})
	}
}

// TestPredictFindingIsWhatStopsFastAuth: with an account on
// caching_sha2_password and PyMySQL without cryptography, require-tls's
// 3159 is the finding (a warm cache does not help), not the missing RSA.
func TestPredictFindingIsWhatStopsFastAuth(t *testing.T) {
	ep := endpoint(config.TLSDisabled, nil)
	ep.Hints.Plugin, ep.Diagnose.Plugin = "", "" // unknown: caching_sha2_password assumed
	env := diagnose.ClientEnvironment{Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}}}
	rep, err := preflight.Predict(context.Background(), ep, preflight.Static{List: map[string][]preflight.App{"orders": {{Caller: "a", Env: env}}}},
		[]preflight.Change{{Kind: preflight.KindRequireTLS}})
	if err != nil {
		t.Fatal(err)
	}
	a := rep.Groups[0].Apps[0]
	if a.Before != preflight.OutcomeWarmCacheOnly || a.After != preflight.OutcomeBreaks || a.Finding.Code != diagnose.CodeServerRequiresTLS {
		t.Errorf("before %s, after %s (%s); want works-while-cache-warm, breaks (server-requires-tls)", a.Before, a.After, a.Finding.Code)
	}
	if len(rep.Assumptions) == 0 || !strings.Contains(rep.Assumptions[0], "assumed caching_sha2_password") {
		t.Errorf("assumptions %q lack the assumed plugin", rep.Assumptions)
	}
}

func TestPredictNeverAFalseAllClear(t *testing.T) {
	ctx := context.Background()
	c, _ := preflight.ParseChange("require-tls")
	ep := endpoint(config.TLSDisabled, nil)
	if _, err := preflight.Predict(ctx, ep, nil, []preflight.Change{c}); !errors.Is(err, preflight.ErrNoInventory) {
		t.Errorf("nil inventory: err = %v, want ErrNoInventory", err)
	}
	rep, err := preflight.Predict(ctx, ep, preflight.Static{}, []preflight.Change{c})
	if err != nil || rep.Status != preflight.StatusNoAppsSeen || rep.AllClear() {
		t.Errorf("no apps: %+v, %v; want no-apps-seen and no all-clear", rep, err)
	}
	rep, err = preflight.Predict(ctx, ep, preflight.Static{Incomplete: true, List: map[string][]preflight.App{"orders": apps()[:1]}}, []preflight.Change{{Kind: preflight.KindPlugin, Plugin: "mysql_native_password"}})
	if err != nil || rep.Status != preflight.StatusInventoryIncomplete || rep.AllClear() || rep.AnyBreaks {
		t.Errorf("incomplete: status %s any_breaks %t all-clear %t, %v; want inventory-incomplete, nothing breaks, no all-clear", rep.Status, rep.AnyBreaks, rep.AllClear(), err)
	}
}

// TestPredictCATrusted: a rotation to a CA the endpoint's bundle already
// holds breaks nothing.
func TestPredictCATrusted(t *testing.T) {
	_, newCA, err := sim.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	_, oldCA, err := sim.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	ep := endpoint(config.TLSVerifyIdentity, append(append([]byte{}, oldCA...), newCA...))
	rep, err := preflight.Predict(context.Background(), ep, preflight.Static{List: map[string][]preflight.App{"orders": apps()}},
		[]preflight.Change{{Kind: preflight.KindCA, CAFile: "new.pem", CAPEM: newCA}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.AllClear() {
		t.Errorf("outcomes %v, want all-clear", outcomes(rep))
	}
}

// TestPredictGroupsByCaller: results are grouped by caller, callers
// sorted, each caller's apps in inventory order; an environment shared by
// two callers gets the same prediction in both.
func TestPredictGroupsByCaller(t *testing.T) {
	in := []preflight.App{
		{Caller: "spiffe://b", Env: envs["pymysql-1.0.2"]},
		{Caller: "spiffe://a", Env: envs["go"]},
		{Caller: "spiffe://a", Env: envs["pymysql-1.0.2"]},
	}
	rep, err := preflight.Predict(context.Background(), endpoint(config.TLSDisabled, nil), preflight.Static{List: map[string][]preflight.App{"orders": in}},
		[]preflight.Change{{Kind: preflight.KindPlugin, Plugin: "caching_sha2_password"}})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Caller, Driver, After string }
	var got []row
	for _, g := range rep.Groups {
		for _, a := range g.Apps {
			if a.App.Caller != g.Caller {
				t.Errorf("app of %s in group %s", a.App.Caller, g.Caller)
			}
			got = append(got, row{g.Caller, a.Driver, string(a.After)})
		}
	}
	want := []row{{"spiffe://a", "go-sql-driver", "works"}, {"spiffe://a", "pymysql", "breaks"}, {"spiffe://b", "pymysql", "breaks"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
}
