package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/server/ui"
)

// TestUIPreflight: the fleet page's form gets the CLI's rows, works
// only while the cache is warm is its own wording, and an incomplete
// inventory is an error, never an all-clear.
func TestUIPreflight(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("ui-preflight-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t", []byte("endpoints:\n  orders:\n    host: 127.0.0.1\n    port: 3306\n    user: app\n    auth: password\n    plugin: mysql_native_password\n    password: {file: "+pw+"}\n    tls: {mode: disabled}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := broker.New(cfg, &credential.Router{Password: credential.NewPasswords(nil)}, nil)
	apps := []preflight.App{
		{Caller: "spiffe://x/old", Env: diagnose.ClientEnvironment{Driver: "pymysql", Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: "1.0.2"}}}},
		{Caller: "spiffe://x/pure", Env: diagnose.ClientEnvironment{Driver: "mysql-connector-python-pure", Packages: []diagnose.ClientPackage{{Name: "mysql-connector-python", Version: "26.10.0"}}}},
	}
	svc.SetInventory(preflight.Static{List: map[string][]preflight.App{"orders": apps}})
	rows, err := uiPreflight{svc: svc}.Preflight(context.Background(), "orders", []string{"plugin=caching_sha2_password"})
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]string
	for _, r := range rows {
		got = append(got, [3]string{r.Caller, r.Before, r.After})
		if r.Fix == "" {
			t.Errorf("%s: no fix", r.Caller)
		}
	}
	want := [][3]string{{"spiffe://x/old", "works", "breaks"}, {"spiffe://x/pure", "works", "works while the auth cache is warm"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	svc.SetInventory(preflight.Static{Incomplete: true, List: map[string][]preflight.App{"orders": apps[:1]}})
	if _, err := (uiPreflight{svc: svc}).Preflight(context.Background(), "orders", []string{"plugin=mysql_native_password"}); !errors.Is(err, errIncomplete) {
		t.Errorf("incomplete inventory: err = %v, want errIncomplete", err)
	}
	var _ ui.Preflighter = uiPreflight{}
}
