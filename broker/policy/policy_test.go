package policy

import (
	"errors"
	"testing"
)

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
	}}
	tests := []struct {
		caller, endpoint, user string
		want                   bool
	}{
		{"spiffe://prod/ns/orders/sa/api", "orders", "app_orders", true},
		{"spiffe://prod/ns/orders/sa/api", "orders-replica-2", "app_orders", true},
		{"spiffe://prod/ns/orders/sa/api", "reports", "reporter", false},
		{"spiffe://prod/ns/reports/sa/cron", "reports", "reporter", true},
		{"spiffe://prod/ns/reports/sa/cron", "orders", "ro_orders", true},
		{"spiffe://prod/ns/reports/sa/cron", "orders", "app_orders", false},
		{"spiffe://dev/ns/orders/sa/api", "orders", "app_orders", false},
		{"", "orders", "app_orders", false},
	}
	for _, tt := range tests {
		if got := p.Allows(tt.caller, tt.endpoint, tt.user); got != tt.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", tt.caller, tt.endpoint, tt.user, got, tt.want)
		}
	}
	if (Policy{}).Allows("spiffe://x/y", "orders", "u") {
		t.Error("empty policy allowed a request; the default must be deny")
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
// wildcards matches itself, and that a pattern CheckPattern accepts
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
		if name != "" && CheckPattern(name) == nil && !containsWild(name) && !Match(name, name) {
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
