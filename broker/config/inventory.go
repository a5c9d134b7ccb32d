package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// Inventory configures the record of which applications use which
// endpoint (docs/INVENTORY.md). Off unless path or mysql is set. Read at
// start: a reload that changes it is refused (restart connbrokerd).
type Inventory struct {
	// Path is the SQLite file of the embedded store, e.g.
	// /var/lib/connbroker/inventory.db; created mode 0600 when missing.
	Path string `yaml:"path"`
	// MySQL, instead of Path, shares the inventory between replicas in a
	// MySQL/MariaDB table reached through one of the broker's endpoints.
	MySQL *InventoryMySQL `yaml:"mysql"`
	// MaxRecords is the most records kept; the least recently seen are
	// evicted first. Default 10000; allowed 1 to 1000000.
	MaxRecords int `yaml:"max_records"`
	// Retention drops records not seen for this long. Default 720h (30
	// days); allowed 1m to 8760h.
	Retention time.Duration `yaml:"retention"`
	// Queue is the most distinct reports held in memory between writes;
	// more are dropped and counted. Default 1024; allowed 1 to 65536.
	Queue int `yaml:"queue"`
}

// InventoryMySQL is the shared inventory backend.
type InventoryMySQL struct {
	// Endpoint names the endpoint (under endpoints:) the broker logs in
	// to with its own issued credential. Required.
	Endpoint string `yaml:"endpoint"`
	// Table is the table name in the endpoint's database. Default
	// connbroker_inventory.
	Table string `yaml:"table"`
}

// Enabled reports whether an inventory is configured.
func (i Inventory) Enabled() bool { return i.Path != "" || i.MySQL != nil }

// Equal reports whether i and o configure the same inventory.
func (i Inventory) Equal(o Inventory) bool {
	if (i.MySQL == nil) != (o.MySQL == nil) || (i.MySQL != nil && *i.MySQL != *o.MySQL) {
		return false
	}
	i.MySQL, o.MySQL = nil, nil
	return i == o
}

var inventoryTable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (c *Config) applyInventoryDefaults() {
	inv := &c.Inventory
	if !inv.Enabled() {
		return
	}
	if inv.MaxRecords == 0 {
		inv.MaxRecords = 10000
	}
	if inv.Retention == 0 {
		inv.Retention = 30 * 24 * time.Hour
	}
	if inv.Queue == 0 {
		inv.Queue = 1024
	}
	if inv.MySQL != nil && inv.MySQL.Table == "" {
		inv.MySQL.Table = "connbroker_inventory"
	}
}

// validateInventory checks the inventory section.
func (c *Config) validateInventory() []error {
	inv := c.Inventory
	var errs []error
	add := func(path, problem, fix string) {
		errs = append(errs, &FieldError{Path: path, Problem: problem, Fix: fix})
	}
	if !inv.Enabled() {
		if inv.MaxRecords != 0 || inv.Retention != 0 || inv.Queue != 0 {
			add("inventory", "max_records, retention or queue is set but no store is", "set inventory.path (SQLite file) or inventory.mysql.endpoint, or remove the inventory section")
		}
		return errs
	}
	if inv.Path != "" && inv.MySQL != nil {
		add("inventory", "both path and mysql are set", "keep path (one broker, SQLite) or mysql (replicas sharing a table), not both")
	}
	if inv.Path != "" && !filepath.IsAbs(inv.Path) {
		add("inventory.path", fmt.Sprintf("%q is not an absolute path", inv.Path), "use an absolute file path, e.g. /var/lib/connbroker/inventory.db")
	}
	if inv.MaxRecords < 1 || inv.MaxRecords > 1_000_000 {
		add("inventory.max_records", fmt.Sprintf("%d is out of range", inv.MaxRecords), "use 1..1000000, or leave it unset for 10000")
	}
	if inv.Retention < time.Minute || inv.Retention > 8760*time.Hour {
		add("inventory.retention", fmt.Sprintf("%v is out of range", inv.Retention), "use a duration from 1m to 8760h, or leave it unset for 720h (30 days)")
	}
	if inv.Queue < 1 || inv.Queue > 65536 {
		add("inventory.queue", fmt.Sprintf("%d is out of range", inv.Queue), "use 1..65536, or leave it unset for 1024")
	}
	if m := inv.MySQL; m != nil {
		ep, ok := c.Endpoints[m.Endpoint]
		switch {
		case m.Endpoint == "":
			add("inventory.mysql.endpoint", "missing", "name the endpoint (under endpoints:) whose database holds the inventory table")
		case !ok || ep == nil:
			add("inventory.mysql.endpoint", fmt.Sprintf("no endpoint %q is configured", m.Endpoint), "name one of the endpoints under endpoints:")
		case !ep.TLS.Mode.Verifies():
			add("inventory.mysql.endpoint", fmt.Sprintf("endpoint %q has tls.mode %q: the broker would send its own credential and the fleet's inventory to a server it does not verify", m.Endpoint, ep.TLS.Mode), "use an endpoint with tls.mode verify-identity (or verify-ca)")
		}
		if !inventoryTable.MatchString(m.Table) {
			add("inventory.mysql.table", fmt.Sprintf("%q is not a plain table name", m.Table), "use letters, digits and _, e.g. connbroker_inventory")
		}
	}
	return errs
}
