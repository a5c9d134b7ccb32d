package goclient_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// clientDir is clients/go, relative to this package.
var clientDir = filepath.Join("..", "..", "clients", "go")

// goIn runs the go command in dir as a user of the client module would:
// no workspace, the module's own go.mod and go.sum, and offline (the module
// cache only), so a missing requirement fails instead of downloading.
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr)
	}
	return string(out)
}

// TestClientModuleStandalone proves that clients/go is a module of its own
// that builds with nothing from the server's module: none of its packages
// (nor its tests' packages) is one of the broker's, and no package it
// builds comes from the server module or the server's heavy dependencies
// (AWS SDK, Prometheus, go-mysql).
func TestClientModuleStandalone(t *testing.T) {
	if got := strings.TrimSpace(goIn(t, clientDir, "list", "-m")); got != "github.com/connbroker/connbroker/clients/go" {
		t.Fatalf("clients/go is module %q, want its own module github.com/connbroker/connbroker/clients/go", got)
	}
	deps := strings.Fields(goIn(t, clientDir, "list", "-deps", "-test", "./..."))
	for _, want := range []string{"github.com/connbroker/connbroker/clients/go", "github.com/connbroker/connbroker/proto/connbroker/v1", "github.com/go-sql-driver/mysql"} {
		if !slices.Contains(deps, want) {
			t.Errorf("go list -deps lacks %s (the listing is not what this test thinks it is)", want)
		}
	}
	for _, p := range deps {
		for _, server := range []string{"broker", "server", "internal", "cmd"} {
			if p == "github.com/connbroker/connbroker/"+server || strings.HasPrefix(p, "github.com/connbroker/connbroker/"+server+"/") {
				t.Errorf("clients/go depends on the server module's package %s", p)
			}
		}
	}
	mods := strings.Fields(goIn(t, clientDir, "list", "-deps", "-test", "-f", "{{with .Module}}{{.Path}}{{end}}", "./..."))
	for _, m := range mods {
		if m == "github.com/connbroker/connbroker" || strings.HasPrefix(m, "github.com/aws/") ||
			strings.HasPrefix(m, "github.com/prometheus/") || strings.HasPrefix(m, "github.com/go-mysql-org/") {
			t.Errorf("clients/go builds a package of module %s", m)
		}
	}
	// Its direct requirements: the stubs, go-sql-driver, grpc and protobuf
	// (genproto's rpc package carries grpc's error details).
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal([]byte(goIn(t, clientDir, "mod", "edit", "-json")), &mod); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/connbroker/connbroker/proto", "github.com/go-sql-driver/mysql", "google.golang.org/grpc",
		"google.golang.org/protobuf", "google.golang.org/genproto/googleapis/rpc"}
	for _, r := range mod.Require {
		if !r.Indirect && !slices.Contains(allowed, r.Path) {
			t.Errorf("clients/go/go.mod requires %s directly; allowed: %v", r.Path, allowed)
		}
	}
	goIn(t, clientDir, "build", "./...")
	goIn(t, clientDir, "vet", "./...")
}
