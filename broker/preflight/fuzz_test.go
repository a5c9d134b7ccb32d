package preflight_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/preflight"
)

// FuzzParseChange: change strings come from requests. Parsing never
// panics, an error always wraps ErrBadChange, and a parsed change prints
// as a string that parses to the same change.
func FuzzParseChange(f *testing.F) {
	for _, s := range []string{"plugin=caching_sha2_password", "auth=iam", "require-tls", "proxy-iam=required", "ca=/x.pem",
		"driver=mysql2@3.22.0", "driver=@", "=", "plugin=", "require-tls=on", "driver=PyMySQL@1.0.2@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := preflight.ParseChange(s)
		if err != nil {
			if !errors.Is(err, preflight.ErrBadChange) {
				t.Fatalf("ParseChange(%q) error %v does not wrap ErrBadChange", s, err)
			}
			return
		}
		again, err := preflight.ParseChange(c.String())
		if err != nil {
			t.Fatalf("ParseChange(%q) = %v, whose String %q does not parse: %v", s, c, c.String(), err)
		}
		if d := cmp.Diff(c, again); d != "" {
			t.Fatalf("ParseChange(%q) round trip (-first +second):\n%s", s, d)
		}
	})
}
