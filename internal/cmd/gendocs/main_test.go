package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/driver"
)

// page is the committed docs/DRIVERS.md, relative to this package.
var page = filepath.Join("..", "..", "..", "docs", "DRIVERS.md")

// TestDriversPageIsFresh fails when docs/DRIVERS.md differs from what the
// registry generates, like check-generated does for the proto stubs.
func TestDriversPageIsFresh(t *testing.T) {
	got, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("read %s: %v (run `go generate ./broker/driver`)", page, err)
	}
	if want := Page(); !bytes.Equal(got, want) {
		t.Errorf("docs/DRIVERS.md is stale: run `go generate ./broker/driver` (or `go run ./internal/cmd/gendocs`) and commit it; diff (-committed +generated):\n%s",
			cmp.Diff(string(got), string(want)))
	}
}

// TestPageNamesEveryDriverAndSource checks the page covers the registry:
// every canonical name, alias and source URL, and that every descriptor
// cites at least one public source.
func TestPageNamesEveryDriverAndSource(t *testing.T) {
	p := string(Page())
	for _, d := range driver.All() {
		for _, n := range d.Names() {
			if !strings.Contains(p, "`"+n+"`") {
				t.Errorf("the page does not name %q (driver %s)", n, d.Name)
			}
		}
		if len(d.Sources) == 0 {
			t.Errorf("driver %s cites no public source (Descriptor.Sources)", d.Name)
		}
		for _, s := range d.Sources {
			if !strings.HasPrefix(s, "https://") {
				t.Errorf("driver %s: source %q is not a public https URL", d.Name, s)
			}
			if !strings.Contains(p, "<"+s+">") {
				t.Errorf("the page does not link %s (driver %s)", s, d.Name)
			}
		}
	}
}

// TestRunWritesThePage runs the command as go generate does.
func TestRunWritesThePage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "DRIVERS.md")
	var stderr bytes.Buffer
	if err := run([]string{"-out", out}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Page()) {
		t.Error("run wrote something else than Page()")
	}
	if err := run([]string{"-nosuch"}, &stderr); err == nil {
		t.Error("run accepted an unknown flag")
	}
}
