package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func passwordConfig(file string) string {
	return fmt.Sprintf("endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {file: %q}\n", file)
}

func caConfig(files ...string) string {
	var b strings.Builder
	b.WriteString("endpoints:\n")
	for i, f := range files {
		fmt.Fprintf(&b, "  e%d:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n    tls: {mode: verify-identity, ca: %q}\n", i, f)
	}
	return b.String()
}

// parseQuickly fails the test when Parse takes more than 5s (a FIFO would
// block an ordinary open for ever).
func parseQuickly(t *testing.T, y string) (*Config, error) {
	t.Helper()
	type res struct {
		c   *Config
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := Parse("x", []byte(y)); ch <- res{c, err} }()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("Parse blocked for 5s")
	}
	return nil, nil
}

func TestSecretFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	linkToFIFO := filepath.Join(dir, "link-to-fifo")
	if err := os.Symlink(fifo, linkToFIFO); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, file, want string }{
		{"fifo", fifo, "is a FIFO"},
		{"dev zero", "/dev/zero", "is a character device"},
		{"directory", dir, "is a directory"},
		{"too large", big, "more than"},
		{"symlink to a fifo", linkToFIFO, "is a FIFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, y := range []string{passwordConfig(tt.file), caConfig(tt.file)} {
				if tt.name == "too large" && strings.Contains(y, "ca:") {
					continue // 1 MiB is within the CA cap
				}
				_, err := parseQuickly(t, y)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Parse(%s) = %v, want an error containing %q", tt.file, err, tt.want)
				}
			}
		})
	}
}

// A Kubernetes secret mount is a chain of symlinks to a regular file: it
// must be accepted.
func TestSecretFileSymlinkToRegular(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_01", "password")
	if err := os.MkdirAll(filepath.Dir(data), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("pw\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_12_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "password")
	if err := os.Symlink("..data/password", link); err != nil {
		t.Fatal(err)
	}
	c, err := parseQuickly(t, passwordConfig(link))
	if err != nil {
		t.Fatal(err)
	}
	if w := c.FileWarnings(); len(w) != 0 {
		t.Errorf("FileWarnings for a 0400 file = %v", w)
	}
}

func TestFileWarningsGroupOrWorldReadable(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		want string
	}{{0o600, ""}, {0o640, "readable by group"}, {0o604, "readable by others"}, {0o644, "readable by group and others"}} {
		f := filepath.Join(dir, fmt.Sprintf("pw%o", tt.mode))
		if err := os.WriteFile(f, []byte("pw"), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, tt.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		c, err := parseQuickly(t, passwordConfig(f))
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Join(c.FileWarnings(), "\n")
		if tt.want == "" && w != "" || tt.want != "" && !strings.Contains(w, tt.want) || tt.want != "" && !strings.Contains(w, "endpoints.a.password.file") {
			t.Errorf("mode %o: warnings %q, want %q", tt.mode, w, tt.want)
		}
	}
}

// Every endpoint naming the same CA bundle (or an identical one) shares
// one copy of it.
func TestCABundleSharedAcrossEndpoints(t *testing.T) {
	dir := t.TempDir()
	pem, err := os.ReadFile("testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, pem, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{a, a, a, b}
	c, err := parseQuickly(t, caConfig(files...))
	if err != nil {
		t.Fatal(err)
	}
	first := &c.Endpoints["e0"].TLS.CAPEM[0]
	for i := range files {
		got := c.Endpoints[fmt.Sprintf("e%d", i)].TLS.CAPEM
		if string(got) != string(pem) || &got[0] != first {
			t.Errorf("e%d: CAPEM is a separate copy (or wrong content)", i)
		}
	}
	// A reload of an unchanged file keeps the same copy.
	c2, err := parseQuickly(t, caConfig(a))
	if err != nil {
		t.Fatal(err)
	}
	if &c2.Endpoints["e0"].TLS.CAPEM[0] != first {
		t.Error("reload read a new copy of an unchanged CA file")
	}
}

// Validate is a pure check: on a configuration whose files are gone it
// still passes (it reads none) and it changes nothing (the CA bundle read
// by Parse stays, no field is filled in); ReadFiles reports the missing
// files with the same FieldError shape Parse returns.
func TestValidateReadsNoFiles(t *testing.T) {
	dir := t.TempDir()
	pem, err := os.ReadFile("testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca, pw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pw")
	if err := os.WriteFile(ca, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf("endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {file: %q}\n    tls: {mode: verify-identity, ca: %q}\n", pw, ca)
	c, err := parseQuickly(t, y)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Endpoints["a"].TLS.CAPEM) != string(pem) {
		t.Fatal("Parse did not read the CA bundle")
	}
	for _, f := range []string{ca, pw} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	before := *c.Endpoints["a"]
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with the files gone = %v, want nil (it must read no file)", err)
	}
	if diff := cmp.Diff(before, *c.Endpoints["a"]); diff != "" {
		t.Errorf("Validate changed the endpoint (-before +after):\n%s", diff)
	}
	// A config built in code with a CA that was never read: Validate
	// leaves CAPEM empty, ReadFiles reports the file.
	c.Endpoints["a"].TLS.CAPEM = nil
	if err := c.Validate(); err != nil || c.Endpoints["a"].TLS.CAPEM != nil {
		t.Fatalf("Validate = %v, CAPEM %d bytes: want nil and no read", err, len(c.Endpoints["a"].TLS.CAPEM))
	}
	err = c.ReadFiles()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReadFiles = %v, want ErrInvalid", err)
	}
	if diff := cmp.Diff([]string{"endpoints.a.password.file", "endpoints.a.tls.ca"}, problemPaths(t, err)); diff != "" {
		t.Errorf("ReadFiles problem paths (-want +got):\n%s", diff)
	}
	// Parse reports value and file problems together.
	_, err = Parse("x", []byte(strings.Replace(y, "    user: u\n", "", 1)))
	if diff := cmp.Diff([]string{"endpoints.a.password.file", "endpoints.a.tls.ca", "endpoints.a.user"}, problemPaths(t, err)); diff != "" {
		t.Errorf("Parse problem paths (-want +got):\n%s", diff)
	}
}
