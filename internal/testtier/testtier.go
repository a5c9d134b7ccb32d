// Package testtier separates the fast test tier from the integration tier.
//
// `go test -short ./...` (make test-short) is the fast tier: it runs every
// test that needs nothing but the Go toolchain and skips the integration
// tests, which start a private MariaDB or call real drivers. Without -short
// (make test, CI) the integration tests run, and a missing server is a
// failed test, never a skipped one: these helpers skip only under -short.
package testtier

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Integration skips t under -short and does nothing otherwise. Call it
// first in a test (or helper) that needs a database server or another
// program outside the Go toolchain; need says what, for the skip message.
func Integration(t testing.TB, need string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test (needs %s): skipped under -short; make test runs it", need)
	}
}

// SkipPackage is for a TestMain whose package-wide setup starts a server:
// under -short it reports the skip and returns true, and TestMain should
// exit 0 without starting anything. It parses the test flags first (as
// m.Run would), since testing.Short needs them.
func SkipPackage(pkg, need string) bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	if !testing.Short() {
		return false
	}
	fmt.Fprintf(os.Stderr, "%s: integration package (needs %s): skipped under -short; make test runs it\n", pkg, need)
	return true
}
