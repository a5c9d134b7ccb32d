package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/broker/caller"
)

func uri(n string) caller.Identity { return caller.Identity{Name: n, Kind: caller.KindURI} }
func dns(n string) caller.Identity { return caller.Identity{Name: n, Kind: caller.KindDNS} }

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"spiffe://prod/ns/orders/sa/api", "spiffe://prod/ns/orders/sa/api", true},
		{"spiffe://prod/ns/orders/sa/api", "spiffe://prod/ns/orders/sa/api2", false},
		{"spiffe://prod/ns/orders/sa/api", "SPIFFE://prod/ns/orders/sa/api", false},
		{"spiffe://prod/ns/*/sa/api", "spiffe://prod/ns/billing/sa/api", true},
		{"spiffe://prod/ns/*/sa/api", "spiffe://prod/ns/a/b/sa/api", false},
		{"spiffe://prod/ns/*", "spiffe://prod/ns/orders/sa/api", false},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders/sa/api", true},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders/x", true},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders/", false},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders", false},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/ordersx/sa", false},
		{"spiffe://prod/*/orders/**", "spiffe://prod/ns/orders/sa/api", true},
		{"**", "anything/at/all", true},
		{"**", "", false},
		{"*.orders.svc", "api.orders.svc", true},
		{"*.orders.svc", "orders.svc", false},
		{"orders-*", "orders-eu", true},
		{"orders-?", "orders-eu", false},
		{"[ab]pi", "api", true},
		{"[", "[", false},
		{"", "", false},
		{"", "x", false},
		// "*" and "**" never match "." or ".." or an empty segment.
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders/../reports", false},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders/./x", false},
		{"spiffe://prod/ns/orders/**", "spiffe://prod/ns/orders//x", false},
		{"spiffe://prod/ns/*/sa/api", "spiffe://prod/ns/../sa/api", false},
		{"spiffe://prod/ns/*/sa/api", "spiffe://prod/ns/./sa/api", false},
		{"spiffe://prod/ns/?/sa/api", "spiffe://prod/ns/./sa/api", false},
		{"spiffe://prod/ns/../sa/api", "spiffe://prod/ns/../sa/api", false},
		{"**", "a/../b", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.name); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	p := Policy{Rules: []Rule{
		{Caller: "spiffe://prod/ns/orders/sa/api", Endpoints: []string{"orders", "orders-replica-*"}},
		{Caller: "spiffe://prod/ns/reports/**", Endpoints: []string{"*"}, Users: []string{"reporter", "ro_*"}},
		{Caller: "uid:0", Endpoints: []string{"root-only"}},
		{Caller: "batch.jobs.internal", Endpoints: []string{"warehouse"}},
		{Caller: "uri:urn:example:job", Endpoints: []string{"urn-db"}},
	}}
	tests := []struct {
		id             caller.Identity
		endpoint, user string
		want           bool
	}{
		{uri("spiffe://prod/ns/orders/sa/api"), "orders", "app_orders", true},
		{uri("spiffe://prod/ns/orders/sa/api"), "orders-replica-2", "app_orders", true},
		{uri("spiffe://prod/ns/orders/sa/api"), "reports", "reporter", false},
		{uri("spiffe://prod/ns/reports/sa/cron"), "reports", "reporter", true},
		{uri("spiffe://prod/ns/reports/sa/cron"), "orders", "ro_orders", true},
		{uri("spiffe://prod/ns/reports/sa/cron"), "orders", "app_orders", false},
		{uri("spiffe://dev/ns/orders/sa/api"), "orders", "app_orders", false},
		{uri(""), "orders", "app_orders", false},
		{caller.Identity{}, "orders", "app_orders", false},
		// Kinds never cross: the same name of another kind matches nothing.
		{caller.FromUID(0), "root-only", "u", true},
		{uri("uid:0"), "root-only", "u", false},
		{dns("uid:0"), "root-only", "u", false},
		{caller.Identity{Name: "0", Kind: caller.KindUnix}, "root-only", "u", false},
		{dns("batch.jobs.internal"), "warehouse", "u", true},
		{uri("batch.jobs.internal"), "warehouse", "u", false},
		{dns("spiffe://prod/ns/orders/sa/api"), "orders", "app_orders", false},
		{uri("urn:example:job"), "urn-db", "u", true},
		{dns("urn:example:job"), "urn-db", "u", false},
		// A climb out of the granted prefix.
		{uri("spiffe://prod/ns/reports/../orders/sa/api"), "orders", "ro_x", false},
	}
	for _, tt := range tests {
		if got := p.Allows(tt.id, tt.endpoint, tt.user); got != tt.want {
			t.Errorf("Allows(%+v, %q, %q) = %v, want %v", tt.id, tt.endpoint, tt.user, got, tt.want)
		}
	}
	if (Policy{}).Allows(uri("spiffe://x/y"), "orders", "u") {
		t.Error("empty policy allowed a request; the default must be deny")
	}
}

func TestMatchCallerKinds(t *testing.T) {
	tests := []struct {
		pattern string
		id      caller.Identity
		want    bool
	}{
		{"**", uri("spiffe://a/b"), true},
		{"**", dns("a.b"), true},
		{"**", caller.FromUID(7), true},
		{"uid:*", caller.FromUID(7), true},
		{"uid:*", uri("uid:7"), false},
		{"uid:7", caller.FromUID(7), true},
		{"uid:7", caller.FromUID(70), false},
		{"uri:spiffe://a/**", uri("spiffe://a/b"), true},
		{"uri:spiffe://a/**", dns("spiffe://a/b"), false},
		{"dns:*.svc", dns("api.svc"), true},
		{"dns:*.svc", uri("api.svc"), false},
		{"*.svc", dns("api.svc"), true},
		{"*.svc", uri("api.svc"), false},
		{"u*:7", caller.FromUID(7), false}, // the kind is never a wildcard
		{"*:7", caller.FromUID(7), false},
		{"urn:x", uri("urn:x"), false},                       // ambiguous: refused, matches nothing
		{"**", caller.Identity{Name: "spiffe://a/b"}, false}, // no kind
	}
	for _, tt := range tests {
		if got := MatchCaller(tt.pattern, tt.id); got != tt.want {
			t.Errorf("MatchCaller(%q, %+v) = %v, want %v", tt.pattern, tt.id, got, tt.want)
		}
	}
	for _, bad := range []string{"urn:x", "u*:7", "uid:", "", "spiffe://**/x"} {
		if err := CheckCaller(bad); !errors.Is(err, ErrBadPattern) {
			t.Errorf("CheckCaller(%q) = %v, want ErrBadPattern", bad, err)
		}
	}
	for _, good := range []string{"**", "uid:1000", "uid:*", "spiffe://prod/**", "uri:urn:x", "dns:a.b", "a.b"} {
		if err := CheckCaller(good); err != nil {
			t.Errorf("CheckCaller(%q) = %v", good, err)
		}
	}
}

// TestMayKnow: only a rule that grants the name whatever the user lets a
// caller tell an unknown endpoint from a denied one.
func TestMayKnow(t *testing.T) {
	p := Policy{Rules: []Rule{
		{Caller: "spiffe://prod/ns/reports/**", Endpoints: []string{"*"}, Users: []string{"reporter"}},
		{Caller: "spiffe://prod/ns/orders/sa/api", Endpoints: []string{"orders-*"}},
	}}
	for _, tt := range []struct {
		id   caller.Identity
		name string
		want bool
	}{
		{uri("spiffe://prod/ns/reports/sa/cron"), "anything", false},
		{uri("spiffe://prod/ns/orders/sa/api"), "orders-eu", true},
		{uri("spiffe://prod/ns/orders/sa/api"), "billing", false},
		{dns("spiffe://prod/ns/orders/sa/api"), "orders-eu", false},
	} {
		if got := p.MayKnow(tt.id, tt.name); got != tt.want {
			t.Errorf("MayKnow(%v, %q) = %v, want %v", tt.id, tt.name, got, tt.want)
		}
	}
}

func TestCheckPattern(t *testing.T) {
	tests := []struct {
		pattern string
		ok      bool
	}{
		{"orders", true},
		{"spiffe://prod/ns/*/sa/api", true},
		{"spiffe://prod/**", true},
		{"**", true},
		{"", false},
		{"spiffe://**/x", false},
		{"a**", false},
		{"[a", false},
		{"a\\", false},
		{string(make([]byte, MaxPatternLen+1)), false},
	}
	for _, tt := range tests {
		err := CheckPattern(tt.pattern)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPattern(%q) = %v, want ok=%v", tt.pattern, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadPattern) {
			t.Errorf("CheckPattern(%q) error %v does not match ErrBadPattern", tt.pattern, err)
		}
	}
}

// FuzzMatch checks that Match never panics, that an exact pattern without
// wildcards matches itself (when it is canonical: no dot or empty
// segments), and that a pattern CheckPattern accepts
// behaves deterministically.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"spiffe://prod/ns/*/sa/api", "spiffe://prod/ns/x/sa/api"},
		{"spiffe://prod/**", "spiffe://prod/a/b"},
		{"**", "x"},
		{"[a-", "a"},
		{"a/**", "a//"},
		{"*.svc", "x.svc"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name)
		if got != Match(pattern, name) {
			t.Fatal("Match is not deterministic")
		}
		if CheckPattern(pattern) != nil && got {
			// A malformed pattern must never grant access.
			t.Fatalf("malformed pattern %q matched %q", pattern, name)
		}
		if name != "" && CheckPattern(name) == nil && !containsWild(name) && canonical(name) && !Match(name, name) {
			t.Fatalf("literal %q does not match itself", name)
		}
	})
}

func containsWild(s string) bool {
	for _, r := range s {
		switch r {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

// FuzzMatchCaller: a caller pattern never matches an identity of another
// kind than the one it names, and no name with a dot segment matches.
func FuzzMatchCaller(f *testing.F) {
	f.Add("uid:0", "uid:0", 0)
	f.Add("**", "spiffe://a/../b", 1)
	f.Add("spiffe://a/*/c", "spiffe://a/../c", 1)
	f.Add("dns:*", "x", 2)
	kinds := []caller.Kind{caller.KindURI, caller.KindDNS, caller.KindUnix}
	f.Fuzz(func(t *testing.T, pattern, name string, k int) {
		if k < 0 {
			k = -k
		}
		id := caller.Identity{Name: name, Kind: kinds[k%3]}
		if !MatchCaller(pattern, id) {
			return
		}
		kind, _, _ := callerPattern(pattern)
		if kind != "" && kind != id.Kind {
			t.Fatalf("pattern %q of kind %q matched %+v", pattern, kind, id)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("pattern %q matched the non-canonical %q", pattern, name)
			}
		}
	})
}
