package config

import (
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
			continue // Validate reports it
		}
		if who := safefile.ExposedTo(fi.Mode()); who != "" {
			out = append(out, fmt.Sprintf("%s: %q (mode %04o) is readable by %s; make it readable by the broker's user only (chmod 0400, or defaultMode: 0400 on a Kubernetes secret volume)", field, path, fi.Mode().Perm(), who))
		}
	}
	sort.Strings(out)
	return out
}
