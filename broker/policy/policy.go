// Package policy decides which caller may get which endpoint.
//
// A policy is a list of rules; a request is allowed when any rule matches
// the caller identity (its kind and its name), the endpoint name and (when
// the rule lists users) the endpoint's database user. Nothing matches by
// default: with caller identities in use, a caller that no rule names is
// denied.
//
// # Caller patterns carry a kind
//
// An identity is a URI SAN, a DNS SAN or a Unix socket uid, and a caller
// pattern matches one kind only:
//
//   - "uri:PATTERN" matches URI SANs (SPIFFE IDs); a pattern with "://",
//     such as "spiffe://prod/ns/orders/sa/api", is a URI pattern too.
//   - "dns:PATTERN" matches DNS SANs; a pattern without ":", such as
//     "api.orders.svc", is a DNS pattern too.
//   - "uid:PATTERN" matches Unix socket peers by uid, e.g. "uid:1000".
//   - "**" alone matches every identified caller, of any kind.
//
// Any other pattern with a ":" is ambiguous and refused by CheckCaller; it
// matches nothing. The kind prefix is always literal (no wildcard selects
// a kind), so a certificate with the URI SAN "uid:0" never matches the
// Unix rule "uid:0".
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
//     that prefix.
//   - A name with a ".", ".." or empty "/"-separated segment matches no
//     pattern at all (package caller refuses such identities anyway).
package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/connbroker/connbroker/broker/caller"
)

// Rule allows callers matching Caller to get the endpoints matching
// Endpoints, optionally only when the endpoint's user matches Users.
type Rule struct {
	// Caller is an identity pattern with its kind, e.g.
	// "spiffe://prod/ns/orders/sa/api", "dns:api.orders.svc" or "uid:1000".
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

// Allows reports whether any rule lets the caller id get endpoint (whose
// database user is user).
func (p Policy) Allows(id caller.Identity, endpoint, user string) bool {
	for _, r := range p.Rules {
		if MatchCaller(r.Caller, id) && matchAny(r.Endpoints, endpoint) && (len(r.Users) == 0 || matchAny(r.Users, user)) {
			return true
		}
	}
	return false
}

// MayKnow reports whether the caller id may learn whether an endpoint
// named endpoint exists: some rule grants it that name whatever the
// endpoint's user. Such a caller gets the endpoint if it exists (so
// telling it "not found" otherwise reveals nothing it could not list);
// every other caller must get the same answer, permission denied, for
// unknown and for denied names, or it could enumerate the configured
// names through a rule restricted by users.
func (p Policy) MayKnow(id caller.Identity, endpoint string) bool {
	for _, r := range p.Rules {
		if len(r.Users) == 0 && MatchCaller(r.Caller, id) && matchAny(r.Endpoints, endpoint) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Caller pattern kind prefixes.
const (
	prefixURI = "uri:"
	prefixDNS = "dns:"
)

// callerPattern splits a caller pattern into the identity kind it matches
// and the pattern for the name; ok is false for an ambiguous pattern. Kind
// "" (for "**") matches every kind.
func callerPattern(pattern string) (kind caller.Kind, name string, ok bool) {
	switch {
	case pattern == "**":
		return "", pattern, true
	case strings.HasPrefix(pattern, prefixURI):
		return caller.KindURI, strings.TrimPrefix(pattern, prefixURI), true
	case strings.HasPrefix(pattern, prefixDNS):
		return caller.KindDNS, strings.TrimPrefix(pattern, prefixDNS), true
	case strings.HasPrefix(pattern, caller.UIDPrefix):
		return caller.KindUnix, pattern, true // Unix names keep their "uid:"
	case strings.Contains(pattern, "://"):
		return caller.KindURI, pattern, true
	case !strings.Contains(pattern, ":"):
		return caller.KindDNS, pattern, true
	}
	return "", "", false
}

// MatchCaller reports whether the caller identity id matches pattern: the
// kinds agree and the name matches (see the package doc). A pattern
// CheckCaller refuses matches nothing.
func MatchCaller(pattern string, id caller.Identity) bool {
	if CheckCaller(pattern) != nil {
		return false
	}
	switch id.Kind {
	case caller.KindURI, caller.KindDNS, caller.KindUnix:
	default:
		return false // an identity of no known kind matches nothing, not even "**"
	}
	kind, name, _ := callerPattern(pattern)
	if kind != "" && kind != id.Kind {
		return false
	}
	if id.Kind == caller.KindUnix && !strings.HasPrefix(id.Name, caller.UIDPrefix) {
		return false
	}
	return Match(name, id.Name)
}

// CheckCaller is CheckPattern for a caller pattern, which must also say
// which kind of identity it matches.
func CheckCaller(pattern string) error {
	kind, name, ok := callerPattern(pattern)
	if !ok {
		return fmt.Errorf("%q: say which kind of identity this is: uri:%s (a URI SAN), dns:%s (a DNS SAN) or uid:N (a Unix socket uid): %w", pattern, pattern, pattern, ErrBadPattern)
	}
	if kind == caller.KindUnix && strings.TrimPrefix(name, caller.UIDPrefix) == "" {
		return fmt.Errorf("%q: no uid after uid:: %w", pattern, ErrBadPattern)
	}
	return CheckPattern(name)
}

// Match reports whether name matches pattern (see the package doc). A
// pattern CheckPattern refuses matches nothing, and so does a name with
// ".", ".." or empty segments.
func Match(pattern, name string) bool {
	if name == "" || CheckPattern(pattern) != nil || !canonical(name) {
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

// canonical reports whether name has no ".", ".." or empty segment after
// its "scheme://" (if any), so no wildcard can match a climb out of the
// prefix a rule grants. A single trailing "/" is left to the matcher.
func canonical(name string) bool {
	rest := name
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	segs := strings.Split(rest, "/")
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
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
