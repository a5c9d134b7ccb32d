// Package preflight answers "what breaks if I make this change?" for one
// endpoint: for every application environment the inventory has seen on it,
// it plays the application's driver (its descriptor in broker/driver, set
// up by the hints the broker would render, in the application's own
// environment) against an in-process MySQL-8-protocol server (package sim)
// set up as the endpoint is now and as it would be after the change, and
// reports each application's outcome before and after, with the finding and
// fix of broker/diagnose, grouped by caller.
//
// A preflight never gives an all-clear it cannot back: an endpoint without
// applications is StatusNoAppsSeen, an inventory that dropped records is
// StatusInventoryIncomplete, and both are distinct from StatusOK.
package preflight

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
)

// Kind is what a change alters.
type Kind string

// The kinds of change preflight predicts.
const (
	// KindPlugin moves the account to another authentication plugin
	// (plugin=caching_sha2_password); the broker's endpoint says the new
	// plugin too.
	KindPlugin Kind = "plugin"
	// KindAuth moves the account to IAM authentication (auth=iam) and the
	// broker's endpoint to auth: iam.
	KindAuth Kind = "auth"
	// KindRequireTLS turns require_secure_transport on (require-tls).
	KindRequireTLS Kind = "require-tls"
	// KindProxyIAM puts an RDS-Proxy-like proxy with IAM authentication
	// REQUIRED in front (proxy-iam=required): IAM tokens only, and TLS
	// before any authentication.
	KindProxyIAM Kind = "proxy-iam"
	// KindCA rotates the server certificate to one signed by the CA in
	// FILE (ca=FILE).
	KindCA Kind = "ca"
	// KindDriver upgrades (or downgrades) one driver in every application
	// that uses it (driver=NAME@VERSION).
	KindDriver Kind = "driver"
)

// Kinds lists the valid kinds with their value syntax, for messages.
var Kinds = []string{
	"plugin=" + strings.Join(Plugins, "|"),
	"auth=iam",
	"require-tls",
	"proxy-iam=required",
	"ca=FILE",
	"driver=NAME@VERSION",
}

// Plugins are the values of plugin=.
var Plugins = []string{handshake.PluginCachingSHA2, handshake.PluginNative, handshake.PluginSHA256, handshake.PluginEd25519}

// Change is one proposed change, parsed.
type Change struct {
	// Kind is what changes.
	Kind Kind
	// Plugin is the new account plugin (KindPlugin).
	Plugin string
	// CAFile is the file named by ca=FILE (KindCA); the caller reads it
	// into CAPEM (ParseChange does not touch the file system).
	CAFile string
	// CAPEM is the new CA's certificates (KindCA).
	CAPEM []byte
	// Driver is the canonical driver name and Version the new version
	// (KindDriver).
	Driver, Version string
}

// String is the change in KIND=VALUE form.
func (c Change) String() string {
	switch c.Kind {
	case KindPlugin:
		return "plugin=" + c.Plugin
	case KindAuth:
		return "auth=iam"
	case KindRequireTLS:
		return "require-tls"
	case KindProxyIAM:
		return "proxy-iam=required"
	case KindCA:
		return "ca=" + c.CAFile
	case KindDriver:
		return "driver=" + c.Driver + "@" + c.Version
	}
	return string(c.Kind)
}

// ErrBadChange is wrapped by every ParseChange error: the change string is
// not one of Kinds. Do not retry; fix the input.
var ErrBadChange = errors.New("bad change")

// ParseChange parses one KIND=VALUE change (see Kinds). An unknown kind or
// value gets an error, wrapping ErrBadChange, that lists the valid ones.
func ParseChange(s string) (Change, error) {
	kind, value, hasValue := strings.Cut(strings.TrimSpace(s), "=")
	kind, value = strings.ToLower(strings.TrimSpace(kind)), strings.TrimSpace(value)
	bad := func(why string) (Change, error) {
		return Change{}, fmt.Errorf("%w %q: %s; valid changes: %s", ErrBadChange, s, why, strings.Join(Kinds, ", "))
	}
	switch Kind(kind) {
	case KindPlugin:
		if !slices.Contains(Plugins, value) {
			return bad(fmt.Sprintf("unknown plugin %q (valid: %s)", value, strings.Join(Plugins, ", ")))
		}
		return Change{Kind: KindPlugin, Plugin: value}, nil
	case KindAuth:
		if !strings.EqualFold(value, "iam") {
			return bad(fmt.Sprintf("unknown auth %q (valid: iam)", value))
		}
		return Change{Kind: KindAuth}, nil
	case KindRequireTLS:
		if hasValue && value != "" && !strings.EqualFold(value, "true") && !strings.EqualFold(value, "on") {
			return bad("require-tls takes no value")
		}
		return Change{Kind: KindRequireTLS}, nil
	case KindProxyIAM:
		if !strings.EqualFold(value, "required") {
			return bad(fmt.Sprintf("unknown proxy-iam %q (valid: required)", value))
		}
		return Change{Kind: KindProxyIAM}, nil
	case KindCA:
		if value == "" {
			return bad("ca needs a file with the new CA certificates")
		}
		return Change{Kind: KindCA, CAFile: value}, nil
	case KindDriver:
		name, version, ok := strings.Cut(value, "@")
		if !ok || strings.TrimSpace(name) == "" || strings.TrimSpace(version) == "" {
			return bad("driver needs NAME@VERSION, e.g. driver=mysql2@3.22.0")
		}
		d, err := driver.For(name)
		if err != nil {
			return bad(err.Error())
		}
		return Change{Kind: KindDriver, Driver: d.Name, Version: strings.TrimSpace(version)}, nil
	case "":
		return bad("empty change")
	}
	return bad(fmt.Sprintf("unknown kind %q", kind))
}

// ParseChanges parses every change and returns every error at once.
func ParseChanges(specs []string) ([]Change, error) {
	var out []Change
	var errs []error
	for _, s := range specs {
		c, err := ParseChange(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	if len(specs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no change given; valid changes: %s", ErrBadChange, strings.Join(Kinds, ", ")))
	}
	return out, errors.Join(errs...)
}
