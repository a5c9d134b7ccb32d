package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/safefile"
)

// MaxConfigFile bounds the configuration file itself.
const MaxConfigFile = 16 << 20

// caFiles keeps one copy of each CA bundle: endpoints naming the same file
// (or files with the same content) share one []byte, and an unchanged file
// is not read again on reload.
var caFiles = struct {
	sync.Mutex
	byPath   map[string]caFile
	byDigest map[[sha256.Size]byte][]byte
}{byPath: map[string]caFile{}, byDigest: map[[sha256.Size]byte][]byte{}}

type caFile struct {
	size  int64
	mtime time.Time
	pem   []byte
}

// maxCAFiles bounds the CA cache; past it, the cache starts afresh.
const maxCAFiles = 1024

// readCA returns the PEM bundle at path: a regular file of at most
// safefile.MaxCABundle bytes, shared with every other endpoint that names
// it (or an identical file).
func readCA(path string) ([]byte, error) {
	fi, err := safefile.Check(path, safefile.MaxCABundle)
	if err != nil {
		return nil, err
	}
	caFiles.Lock()
	c, ok := caFiles.byPath[path]
	caFiles.Unlock()
	if ok && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) {
		return c.pem, nil
	}
	pem, fi, err := safefile.Read(path, safefile.MaxCABundle)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(pem)
	caFiles.Lock()
	defer caFiles.Unlock()
	if len(caFiles.byPath) >= maxCAFiles || len(caFiles.byDigest) >= maxCAFiles {
		clear(caFiles.byPath)
		clear(caFiles.byDigest)
	}
	if shared, ok := caFiles.byDigest[d]; ok {
		pem = shared
	} else {
		caFiles.byDigest[d] = pem
	}
	caFiles.byPath[path] = caFile{size: fi.Size(), mtime: fi.ModTime(), pem: pem}
	return pem, nil
}

// ReadFiles checks every file the configuration names (the server's TLS
// files, password files) and reads each endpoint's CA bundle into
// EndpointTLS.CAPEM. It returns the file problems as an *Error of
// FieldErrors (which matches ErrInvalid), like Validate, or nil. It is the
// one step of loading that reads files and changes c: run it once, before
// c is shared (Parse and Load do).
func (c *Config) ReadFiles() error {
	var errs []error
	for _, f := range []struct{ path, file string }{{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}, {"tls.client_ca", c.TLS.ClientCA}} {
		if f.file != "" {
			if _, err := safefile.Check(f.file, safefile.MaxCABundle); err != nil {
				errs = append(errs, &FieldError{Path: f.path, Problem: fileProblem(f.file, err), Fix: "point it at a readable PEM file"})
			}
		}
	}
	names := make([]string, 0, len(c.Endpoints))
	for n := range c.Endpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if e := c.Endpoints[n]; e != nil {
			errs = append(errs, e.readFiles("endpoints."+n)...)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Source: "<input>", Problems: errs}
}

// readFiles checks e's password files and reads its CA bundle into
// e.TLS.CAPEM; p is e's field path.
func (e *Endpoint) readFiles(p string) []error {
	var errs []error
	errs = append(errs, e.Password.checkFile(p+".password")...)
	if d := e.Diagnostic; d != nil {
		errs = append(errs, d.Password.checkFile(p+".diagnostic.password")...)
	}
	if e.TLS.CA != "" && e.TLS.CA != CASystem {
		pem, err := readCA(e.TLS.CA) // bounded, shared
		switch {
		case err != nil:
			errs = append(errs, &FieldError{Path: p + ".tls.ca", Problem: fileProblem(e.TLS.CA, err), Fix: `point it at a readable PEM file, or use "system"`})
		case !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")):
			errs = append(errs, &FieldError{Path: p + ".tls.ca", Problem: fmt.Sprintf("%q holds no PEM certificate", e.TLS.CA), Fix: "use a PEM bundle (e.g. the RDS global-bundle.pem)"})
		default:
			e.TLS.CAPEM = pem
		}
	}
	return errs
}

// checkFile checks the password file of s, when a file (and nothing else)
// is its source; Validate reports a source with several kinds.
func (s *PasswordSource) checkFile(p string) []error {
	if s == nil || s.File == "" || s.Env != "" || s.SecretsManager != "" {
		return nil
	}
	if _, err := checkSecretFile(s.File); err != nil {
		return []error{&FieldError{Path: p + ".file", Problem: fileProblem(s.File, err), Fix: "point it at a regular file holding only the password; create it or fix the path and its permissions"}}
	}
	return nil
}

// checkSecretFile checks a password file without reading it: it must be a
// regular file no larger than safefile.MaxSecret.
func checkSecretFile(path string) (fs.FileInfo, error) {
	return safefile.Check(path, safefile.MaxSecret)
}

// fileProblem says in plain words why a file cannot be used.
func fileProblem(path string, err error) string {
	switch {
	case errors.Is(err, safefile.ErrNotRegular), errors.Is(err, safefile.ErrTooLarge):
		return err.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read %q: %v", path, pe.Err)
	}
	return fmt.Sprintf("cannot read %q: %v", path, err)
}

// FileWarnings lists secret files that users other than the owner may
// read (group- or world-readable password files and the server's TLS
// key). They are warnings, not errors: a Kubernetes secret volume is 0644
// unless its defaultMode says otherwise. Print them in --check-config and
// log them at start.
func (c *Config) FileWarnings() []string {
	files := map[string]string{} // path -> config field
	if c.TLS.Key != "" {
		files[c.TLS.Key] = "tls.key"
	}
	for name, e := range c.Endpoints {
		if e == nil {
			continue
		}
		if e.Password != nil && e.Password.File != "" {
			files[e.Password.File] = "endpoints." + name + ".password.file"
		}
		if d := e.Diagnostic; d != nil && d.Password != nil && d.Password.File != "" {
			files[d.Password.File] = "endpoints." + name + ".diagnostic.password.file"
		}
	}
	var out []string
	for path, field := range files {
		fi, err := safefile.Check(path, safefile.MaxCABundle)
		if err != nil {
			continue // ReadFiles reports it
		}
		if who := safefile.ExposedTo(fi.Mode()); who != "" {
			out = append(out, fmt.Sprintf("%s: %q (mode %04o) is readable by %s; make it readable by the broker's user only (chmod 0400, or defaultMode: 0400 on a Kubernetes secret volume)", field, path, fi.Mode().Perm(), who))
		}
	}
	sort.Strings(out)
	return out
}
