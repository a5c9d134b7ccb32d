package credential

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/safefile"
)

// Passwords reads passwords from files or environment variables. A file is
// re-read when its size, modification time or inode changes, so a rotated
// secret mounted by Kubernetes or written by an agent is picked up on the
// next request.
type Passwords struct {
	lookupEnv func(string) (string, bool)

	mu    sync.Mutex
	files map[string]fileEntry
}

type fileEntry struct {
	stamp  fileStamp
	secret Secret
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// NewPasswords returns a password issuer reading env with lookupEnv
// (os.LookupEnv when nil).
func NewPasswords(lookupEnv func(string) (string, bool)) *Passwords {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return &Passwords{lookupEnv: lookupEnv, files: make(map[string]fileEntry)}
}

// Issue reads the endpoint's password.
func (p *Passwords) Issue(_ context.Context, ep *config.Endpoint) (Credential, error) {
	src := ep.Password
	if src == nil {
		return Credential{}, &SourceError{Endpoint: ep.Name, Source: "password", Err: errors.New("no password source configured")}
	}
	if src.Env != "" {
		v, ok := p.lookupEnv(src.Env)
		if !ok || v == "" {
			return Credential{}, &SourceError{Endpoint: ep.Name, Source: "env:" + src.Env, Err: errors.New("variable is unset or empty")}
		}
		return Credential{Kind: KindPassword, Secret: NewSecret(v), Source: "env:" + src.Env}, nil
	}
	s, cached, err := p.readFile(src.File)
	if err != nil {
		return Credential{}, &SourceError{Endpoint: ep.Name, Source: "file:" + src.File, Err: err}
	}
	return Credential{Kind: KindPassword, Secret: s, Source: "file:" + src.File, Cached: cached}, nil
}

// Invalidate forgets a cached file so the next Issue re-reads it (after a
// login failed with 1045, in case the secret rotated).
func (p *Passwords) Invalidate(ep *config.Endpoint) {
	if ep.Password != nil {
		forget(&p.mu, p.files, ep.Password.File)
	}
}

// forget deletes key from the cache m guarded by mu ("" is never cached).
func forget[V any](mu *sync.Mutex, m map[string]V, key string) {
	if key == "" {
		return
	}
	mu.Lock()
	delete(m, key)
	mu.Unlock()
}

// readFile returns the password in path; cached is true when the file is
// unchanged since it was last read (and so was not read again).
func (p *Passwords) readFile(path string) (s Secret, cached bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Secret{}, false, fmt.Errorf("stat password file: %w", err)
	}
	st := stampOf(fi)
	p.mu.Lock()
	e, ok := p.files[path]
	p.mu.Unlock()
	if ok && e.stamp == st {
		return e.secret, true, nil
	}
	b, fi, err := safefile.Read(path, safefile.MaxSecret)
	if err != nil {
		return Secret{}, false, fmt.Errorf("read password file: %w", err)
	}
	st = stampOf(fi) // of the file read, in case it changed since the stat
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return Secret{}, false, errors.New("password file is empty")
	}
	s = NewSecret(v)
	p.mu.Lock()
	p.files[path] = fileEntry{stamp: st, secret: s}
	p.mu.Unlock()
	return s, false, nil
}
