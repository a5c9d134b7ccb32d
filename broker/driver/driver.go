// Package driver is the one place where the product's knowledge of each
// client library lives: one descriptor per driver, one file per descriptor.
// A descriptor holds the driver's canonical name, aliases and display name;
// its hints renderer (the exact connect options for an endpoint); the
// handshake profile derived from those rendered hints, so that a prediction
// is always "this driver, set up as the broker told it"; the variants the
// comparison table shows (e.g. "without cryptography"); and the rules the
// doctor checks in an application's environment (package, import module,
// version rules, environment variables).
//
// Adding a driver is one file that calls register in its init, plus its
// test. Every caller resolves names through For, so an alias is accepted
// everywhere or nowhere: GetConnectionParams, the diagnosis table
// (broker/diagnose.DriverCases plays every descriptor in each of its
// Variants), the doctor's environment cases (EnvRules.GuessOrder), the
// ListDrivers RPC and `connbroker drivers`, and the Python doctor and
// matrix runner (which read ListDrivers). Outside this package a new driver
// needs only what running it for real needs: a row (and, for a new
// runtime, a runner) in internal/matrix, and a connect helper in a client
// library if it should have one.
//
// package hints keeps the data shapes (Input, Hints, placeholders) apart
// from the registry, so that the server's proto conversion and the
// clients' tests depend on the shape only.
//
// The facts behind each renderer and profile are cited in the descriptor
// (Sources: the driver's public source files and manuals) and checked by
// tests in which the real driver connects with only the hints
// (internal/matrix). docs/DRIVERS.md is generated from this registry.
//
//go:generate go run ../../internal/cmd/gendocs -out ../../docs/DRIVERS.md
package driver

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// Runtimes a driver runs in.
const (
	RuntimePython = "python"
	RuntimeGo     = "go"
	RuntimeNode   = "node"
	RuntimeJava   = "java"
	RuntimeCLI    = "cli"
)

// Descriptor is everything the product knows about one driver. Build one
// with the fields below and register it in the driver file's init.
type Descriptor struct {
	// Name is the canonical name, e.g. "pymysql".
	Name string
	// Aliases are other names accepted for it, e.g. "PyMySQL" (matched
	// case-insensitively).
	Aliases []string
	// DisplayName is for people, e.g. "PyMySQL".
	DisplayName string
	// Runtime is where the driver runs: RuntimePython, RuntimeGo, ...
	Runtime string
	// Env is what the doctor checks in an application's environment.
	Env EnvRules
	// Wraps, when set, is the canonical name of the DBAPI driver this one
	// drives (the SQLAlchemy dialects): its handshake is that driver's.
	Wraps string
	// Sources are the public pages behind the descriptor's facts: the
	// driver's source files and manual pages (docs/DRIVERS.md lists them).
	Sources []string

	render   func(in hints.Input) hints.Hints
	profile  func(h hints.Hints, f Facts) handshake.Profile
	variants []Variant
	// envLabel names the driver's setting in an application's process,
	// e.g. "without cryptography"; nil uses DisplayName.
	envLabel func(f Facts) string
}

// EnvRules are what an application's process must have for the driver.
type EnvRules struct {
	// Package is the package or module to install, e.g. "PyMySQL",
	// "github.com/go-sql-driver/mysql"; empty for a CLI.
	Package string
	// Module is what the application imports, e.g. "pymysql", "MySQLdb".
	Module string
	// Optional are packages that change what the driver can do, e.g.
	// "cryptography" (RSA), "PyNaCl" (client_ed25519).
	Optional []string
	// EnvVars are environment variables the driver reads, e.g.
	// LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN.
	EnvVars []string
	// Versions are version rules: below a version, what goes wrong.
	Versions []VersionRule
	// GuessOrder, when > 0, orders the drivers the doctor tries when the
	// application names none (1 first).
	GuessOrder int
}

// VersionRule says what goes wrong below a version.
type VersionRule struct {
	// Below is the first version without the problem.
	Below string
	// Problem is what happens in older versions.
	Problem string
}

// Variant is one explicit setting of a driver that the comparison table
// shows beside the others, e.g. PyMySQL "without cryptography".
type Variant struct {
	// Label names the setting, e.g. "without cryptography".
	Label string
	// Facts are the environment this variant assumes.
	Facts Facts
}

// Facts are what decides a driver's handshake beyond its options: what is
// installed and set in the application's process.
type Facts struct {
	// Version is the installed driver version; "" means the hints'
	// minimum version or newer.
	Version string
	// Cryptography, PyNaCl: the optional Python packages are importable.
	Cryptography, PyNaCl bool
	// MariaDBConnC: the driver is linked against MariaDB Connector/C
	// (not Oracle's libmysqlclient).
	MariaDBConnC bool
	// Vars, when not nil, are the process's environment variables; nil
	// means the hints' Env was applied.
	Vars map[string]string
	// ClientLibrary is the native library the driver is linked against,
	// e.g. "MariaDB Connector/C 3.3.14"; empty when unknown or none.
	ClientLibrary string
	// CExtension: the driver's C extension is importable.
	CExtension bool
}

// Render returns the hints for in, with Driver set to the canonical name.
func (d *Descriptor) Render(in hints.Input) hints.Hints {
	h := d.render(in)
	h.Driver = d.Name
	return h
}

// Profile is the handshake profile of the driver set up by h (rendered by
// this descriptor) in an environment with f.
func (d *Descriptor) Profile(h hints.Hints, f Facts) handshake.Profile {
	p := d.profile(h, f)
	if p.Name == "" {
		p.Name = d.DisplayName
	}
	return p
}

// EnvLabel names how the driver is set up in a process with f, for the
// doctor's table, e.g. "without cryptography".
func (d *Descriptor) EnvLabel(f Facts) string {
	if d.envLabel == nil {
		return d.DisplayName
	}
	return d.envLabel(f)
}

// Variants are the settings the comparison table shows; at least one.
func (d *Descriptor) Variants() []Variant {
	if d.Wraps != "" {
		return d.Base().Variants()
	}
	if len(d.variants) == 0 {
		return []Variant{{Label: "as the hints set it up", Facts: Facts{Cryptography: true, PyNaCl: true}}}
	}
	return slices.Clone(d.variants)
}

// Names are the canonical name and the aliases.
func (d *Descriptor) Names() []string { return append([]string{d.Name}, d.Aliases...) }

// named reports whether n is d's name or an alias (any case), without the
// slice Names allocates: For runs on every GetConnectionParams.
func (d *Descriptor) named(n string) bool {
	if strings.EqualFold(d.Name, n) {
		return true
	}
	for _, a := range d.Aliases {
		if strings.EqualFold(a, n) {
			return true
		}
	}
	return false
}

var registry []*Descriptor

// register adds d; it panics on a name or alias already taken, so a
// duplicate fails every test at init.
func register(d *Descriptor) {
	if d.Name == "" || d.DisplayName == "" || d.render == nil || d.profile == nil {
		panic("driver: incomplete descriptor " + d.Name)
	}
	for _, n := range d.Names() {
		if o, err := For(n); err == nil {
			panic(fmt.Sprintf("driver: name %q of %s is taken by %s", n, d.Name, o.Name))
		}
	}
	registry = append(registry, d)
	slices.SortFunc(registry, func(a, b *Descriptor) int { return strings.Compare(a.Name, b.Name) })
}

// All returns every descriptor, sorted by canonical name.
func All() []*Descriptor { return slices.Clone(registry) }

// Names lists the canonical driver names, sorted.
func Names() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.Name
	}
	return out
}

// ErrUnknownDriver is returned by For for a driver it does not know. Do
// not retry: pick one of Names().
var ErrUnknownDriver = errors.New("unknown driver")

// UnknownDriverError names the driver asked for and the known ones.
type UnknownDriverError struct {
	// Driver is the name asked for.
	Driver string
}

func (e *UnknownDriverError) Error() string {
	known := make([]string, len(registry))
	for i, d := range registry {
		known[i] = d.Name
		if len(d.Aliases) > 0 {
			known[i] += " (aliases " + strings.Join(d.Aliases, ", ") + ")"
		}
	}
	return fmt.Sprintf("unknown driver %q; known drivers: %s", e.Driver, strings.Join(known, ", "))
}

// Unwrap returns ErrUnknownDriver.
func (e *UnknownDriverError) Unwrap() error { return ErrUnknownDriver }

// For returns the descriptor for name: a canonical name or an alias, case
// insensitive, surrounding space ignored.
func For(name string) (*Descriptor, error) {
	n := strings.TrimSpace(name)
	for _, d := range registry {
		if d.named(n) {
			return d, nil
		}
	}
	return nil, &UnknownDriverError{Driver: name}
}

// Base returns the descriptor whose handshake d plays: the wrapped DBAPI
// driver for a SQLAlchemy dialect, else d.
func (d *Descriptor) Base() *Descriptor {
	if d.Wraps == "" {
		return d
	}
	b, err := For(d.Wraps)
	if err != nil {
		panic("driver: " + d.Name + " wraps unknown " + d.Wraps)
	}
	return b
}

// MinVersion is the lowest driver version the hints are known to work
// with (the same for every endpoint).
func (d *Descriptor) MinVersion() string {
	return d.Render(hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: config.TLSVerifyIdentity}).MinVersion
}
