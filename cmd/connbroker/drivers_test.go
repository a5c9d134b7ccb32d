package main

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connbroker/connbroker/broker/driver"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestDriversCommand: `connbroker drivers` publishes the registry through
// the broker, every name and alias, as a table and as JSON.
func TestDriversCommand(t *testing.T) {
	br, _ := startStack(t)
	code, out, errOut := cli("--broker="+br.Addr, "drivers")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"NAME", "ALIASES", "pymysql", "PyMySQL", "go, go-sql-driver/mysql, gosqldriver", "LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "mysql-connector-python-c"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	code, out, errOut = cli("--broker="+br.Addr, "drivers", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var resp v1.ListDriversResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("not a ListDriversResponse: %v\n%s", err, out)
	}
	var names []string
	for _, d := range resp.GetDrivers() {
		names = append(names, d.GetName())
		want, err := driver.For(d.GetName())
		if err != nil {
			t.Fatalf("published %q: %v", d.GetName(), err)
		}
		if !slices.Equal(d.GetAliases(), want.Aliases) || d.GetDisplayName() != want.DisplayName || d.GetEnvironment().GetPackage() != want.Env.Package {
			t.Errorf("published %v, registry %+v", d, want)
		}
	}
	if !slices.Equal(names, driver.Names()) {
		t.Errorf("published %v, registry %v", names, driver.Names())
	}
	pm := resp.GetDrivers()[slices.Index(names, "pymysql")]
	if pm.GetEnvironment().GetModule() != "pymysql" || pm.GetEnvironment().GetMinVersion() != "1.1.2" || len(pm.GetEnvironment().GetVersionRules()) == 0 || len(pm.GetVariants()) < 2 {
		t.Errorf("pymysql entry: %v", pm)
	}
}

// TestMatchDriverAcceptsEveryAlias: `diagnose --driver` takes every name
// and alias of the registry and selects that driver's rows.
func TestMatchDriverAcceptsEveryAlias(t *testing.T) {
	for _, d := range driver.All() {
		for _, n := range d.Names() {
			got, err := matchDriver(n)
			if err != nil || len(got) == 0 {
				t.Errorf("matchDriver(%q) = %v, %v", n, got, err)
				continue
			}
			if !slices.Equal(got, []string{d.Base().DisplayName}) {
				t.Errorf("matchDriver(%q) = %v, want %s's rows", n, got, d.Base().DisplayName)
			}
		}
	}
	if _, err := matchDriver("odbc"); err == nil || !strings.Contains(err.Error(), "pymysql (aliases PyMySQL)") {
		t.Errorf("matchDriver(odbc) err = %v", err)
	}
}
