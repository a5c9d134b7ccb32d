// Package policy decides which caller may get which endpoint.
//
// A policy is a list of rules; a request is allowed when any rule matches
// the caller identity, the endpoint name and (when the rule lists users)
// the endpoint's database user. Nothing matches by default: with caller
// identities in use, a caller that no rule names is denied.
//
// # Patterns
//
// Every field of a rule is a pattern, matched against the whole value:
//
//   - A pattern without wildcards matches exactly (case-sensitive; DNS
//     identities are lower-cased before matching, so write them in lower
//     case).
//   - "*" matches any run of characters except "/", "?" one character
//     except "/", "[a-z]" one character of a class, as in [path.Match].
//     So "spiffe://prod/ns/*/sa/api" matches the "api" service account of
//     every namespace, but not deeper paths.
//   - A last segment "**" matches one or more whole segments of any
//     content: "spiffe://prod/ns/orders/**" matches every identity under
//     that prefix, and "**" alone matches every authenticated caller.
package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Rule allows callers matching Caller to get the endpoints matching
// Endpoints, optionally only when the endpoint's user matches Users.
type Rule struct {
	// Caller is an identity pattern, e.g. "spiffe://prod/ns/orders/sa/api".
	Caller string `yaml:"caller"`
	// Endpoints are endpoint name patterns, e.g. ["orders", "orders-*"].
	Endpoints []string `yaml:"endpoints"`
	// Users, when set, restrict the rule to endpoints whose database user
	// matches one of these patterns.
	Users []string `yaml:"users"`
}

// Policy is an ordered list of rules. The zero Policy allows nothing.
type Policy struct {
	// Rules are the allow rules.
	Rules []Rule
}

// Allows reports whether any rule lets caller get endpoint (whose database
// user is user).
func (p Policy) Allows(caller, endpoint, user string) bool {
	for _, r := range p.Rules {
		if r.allows(caller, endpoint, user) {
			return true
		}
	}
	return false
}

func (r Rule) allows(caller, endpoint, user string) bool {
	if !Match(r.Caller, caller) || !matchAny(r.Endpoints, endpoint) {
		return false
	}
	return len(r.Users) == 0 || matchAny(r.Users, user)
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether name matches pattern (see the package doc). A
// pattern CheckPattern refuses matches nothing.
func Match(pattern, name string) bool {
	if name == "" || CheckPattern(pattern) != nil {
		return false // a malformed pattern never grants anything
	}
	if pattern != "**" && !strings.HasSuffix(pattern, "/**") {
		ok, err := path.Match(pattern, name)
		return err == nil && ok
	}
	prefix := strings.TrimSuffix(pattern, "**") // "" or "a/b/"
	pSegs := strings.Count(prefix, "/")
	nameSegs := strings.SplitAfterN(name, "/", pSegs+1)
	if len(nameSegs) <= pSegs || nameSegs[pSegs] == "" {
		return false // "**" needs at least one more non-empty segment
	}
	ok, err := path.Match(prefix, strings.Join(nameSegs[:pSegs], ""))
	return err == nil && ok
}

// MaxPatternLen bounds a pattern's length.
const MaxPatternLen = 512

// ErrBadPattern means a pattern cannot be used. Fix the configuration.
var ErrBadPattern = errors.New("bad pattern")

// CheckPattern returns an error wrapping ErrBadPattern when pattern is
// empty, too long, syntactically malformed, or uses "**" anywhere but as
// the whole last segment.
func CheckPattern(pattern string) error {
	switch {
	case pattern == "":
		return fmt.Errorf("empty pattern: %w", ErrBadPattern)
	case len(pattern) > MaxPatternLen:
		return fmt.Errorf("pattern longer than %d characters: %w", MaxPatternLen, ErrBadPattern)
	}
	body := pattern
	if pattern == "**" {
		return nil
	}
	if strings.HasSuffix(pattern, "/**") {
		body = strings.TrimSuffix(pattern, "**")
	}
	if strings.Contains(body, "**") {
		return fmt.Errorf("%q: ** is allowed only as the whole last segment (e.g. spiffe://prod/**): %w", pattern, ErrBadPattern)
	}
	if _, err := path.Match(body, ""); err != nil {
		return fmt.Errorf("%q: malformed wildcard (unclosed [ or trailing \\): %w", pattern, ErrBadPattern)
	}
	return nil
}
