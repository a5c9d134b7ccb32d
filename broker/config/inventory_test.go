package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidateInventory(t *testing.T) {
	eps := "endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n    tls: {mode: verify-identity}\n" +
		"  plain:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n    tls: {mode: disabled}\n"
	for _, tt := range []struct {
		name, inv string
		wantPath  string // "" = valid
		wantFix   string
	}{
		{"off", "", "", ""},
		{"sqlite", "inventory: {path: /var/lib/connbroker/inv.db}\n", "", ""},
		{"mysql", "inventory: {mysql: {endpoint: a}}\n", "", ""},
		{"relative path", "inventory: {path: inv.db}\n", "inventory.path", "absolute"},
		{"both", "inventory: {path: /x.db, mysql: {endpoint: a}}\n", "inventory", "not both"},
		{"bounds without store", "inventory: {max_records: 5}\n", "inventory", "inventory.path"},
		{"max_records", "inventory: {path: /x.db, max_records: -1}\n", "inventory.max_records", "1..1000000"},
		{"retention", "inventory: {path: /x.db, retention: 1s}\n", "inventory.retention", "1m to 8760h"},
		{"queue", "inventory: {path: /x.db, queue: 100000}\n", "inventory.queue", "1..65536"},
		{"unknown endpoint", "inventory: {mysql: {endpoint: nope}}\n", "inventory.mysql.endpoint", "endpoints:"},
		{"missing endpoint", "inventory: {mysql: {}}\n", "inventory.mysql.endpoint", "name the endpoint"},
		{"unverified endpoint", "inventory: {mysql: {endpoint: plain}}\n", "inventory.mysql.endpoint", "verify-identity"},
		{"bad table", "inventory: {mysql: {endpoint: a, table: 'x; DROP'}}\n", "inventory.mysql.table", "letters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("x", []byte(eps+tt.inv))
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.inv != "" && (c.Inventory.MaxRecords != 10000 || c.Inventory.Retention != 720*time.Hour || c.Inventory.Queue != 1024) {
					t.Errorf("defaults not applied: %+v", c.Inventory)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			if got := problemPaths(t, err); !slices.Contains(got, tt.wantPath) {
				t.Errorf("paths %v lack %q: %v", got, tt.wantPath, err)
			}
			if !strings.Contains(err.Error(), tt.wantFix) {
				t.Errorf("error lacks fix %q: %v", tt.wantFix, err)
			}
		})
	}
}

func TestInventoryEqual(t *testing.T) {
	a := Inventory{Path: "/a", MaxRecords: 1}
	b := Inventory{MySQL: &InventoryMySQL{Endpoint: "x"}}
	c := Inventory{MySQL: &InventoryMySQL{Endpoint: "x"}}
	if !a.Equal(a) || a.Equal(b) || !b.Equal(c) || b.Equal(Inventory{MySQL: &InventoryMySQL{Endpoint: "y"}}) {
		t.Error("Equal is wrong")
	}
}

// TestInventoryProblemsFile: one file, every inventory problem reported at
// once, each with its field path and a fix.
func TestInventoryProblemsFile(t *testing.T) {
	_, err := Load("testdata/inventory_problems.yaml")
	if err == nil {
		t.Fatal("Load succeeded")
	}
	got := problemPaths(t, err)
	for _, want := range []string{"inventory.mysql.endpoint", "inventory.mysql.table", "inventory.retention", "inventory.queue"} {
		if !slices.Contains(got, want) {
			t.Errorf("paths %v lack %q", got, want)
		}
	}
	if slices.Contains(got, "inventory.max_records") {
		t.Errorf("max_records 0 means the default, not a problem: %v", err)
	}
	if n := strings.Count(err.Error(), "(fix: "); n < 4 {
		t.Errorf("%d fixes in:\n%v", n, err)
	}
}
