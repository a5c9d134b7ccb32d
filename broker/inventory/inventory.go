// Package inventory records which applications use which endpoint: per
// caller identity, endpoint and client environment (driver, versions,
// packages, the environment variables that matter), when it was first and
// last seen and how often. The helpers send the environment with their
// first GetConnectionParams per process and endpoint; preflight reads the
// inventory to predict which applications a change would break.
//
// The store is bounded (inventory.max_records, the least recently seen
// records evicted first; inventory.retention, older records dropped) and
// never slows the request path: Observe aggregates in memory and one
// goroutine writes batches. When the in-memory batch is full a report is
// dropped and counted (Stats.Dropped), so a reader can tell an incomplete
// inventory from a complete one.
//
// Nothing secret is stored: environment variables only from an allowlist
// (the variables the broker's drivers read, plus SSL_CERT_FILE and
// SSL_CERT_DIR), and of those only a "(set)" marker for the ones that
// hold a password (MYSQL_PWD). The client's clock is not stored.
package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/driver"
)

// Record is one application environment seen on one endpoint by one
// caller.
type Record struct {
	// Caller is the caller's qualified identity (caller.Identity.Qualified),
	// empty for an unidentified caller.
	Caller string
	// Endpoint is the endpoint name.
	Endpoint string
	// Env is the environment as stored (Sanitize): allowlisted variables
	// only, no client time.
	Env diagnose.ClientEnvironment
	// FirstSeen and LastSeen bound the reports of this environment.
	FirstSeen, LastSeen time.Time
	// Count is how many reports were recorded.
	Count int64
	// Digest is the hex SHA-256 of Env (Digest), the record's key with
	// Caller and Endpoint.
	Digest string
}

// Stats says how complete the inventory is. Preflight must refuse an "all
// clear" when Full or Dropped > 0: applications may be missing.
type Stats struct {
	// Backend is "sqlite" or "mysql".
	Backend string
	// Records is how many records the store holds (all callers).
	Records int64
	// Capacity is Options.MaxRecords.
	Capacity int64
	// Full is true when Records reached Capacity: records are being
	// evicted, so applications may be missing.
	Full bool
	// Dropped counts reports lost since the store opened (batch full,
	// failed writes).
	Dropped int64
	// Evicted counts records removed because the store was full.
	Evicted int64
	// Expired counts records removed because of Retention.
	Expired int64
	// Retention is Options.Retention.
	Retention time.Duration
	// LastError is the last write error's text, "" when none.
	LastError string
}

// Complete reports whether no report was lost and nothing was evicted for
// room: the inventory then holds every application seen within Retention.
func (s Stats) Complete() bool { return !s.Full && s.Dropped == 0 && s.Evicted == 0 }

// Options bound a store.
type Options struct {
	// MaxRecords is the most records kept; the least recently seen are
	// evicted first. Default DefaultMaxRecords.
	MaxRecords int
	// Retention drops records not seen for this long. Default
	// DefaultRetention.
	Retention time.Duration
	// Queue is the most distinct (caller, endpoint, environment) reports
	// held in memory between writes; more are dropped. Default
	// DefaultQueue.
	Queue int
	// FlushEvery is how often the writer flushes aggregated repeat
	// reports (new records are written at once). Default 1s.
	FlushEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives write errors; nil discards.
	Log *slog.Logger
	// OnDrop, when set, is called once per dropped report with the reason
	// ("queue-full" or "write-error"), e.g. to count it in a metric.
	OnDrop func(reason string)
}

// Defaults of Options.
const (
	DefaultMaxRecords = 10000
	DefaultRetention  = 30 * 24 * time.Hour
	DefaultQueue      = 1024
)

func (o *Options) defaults() {
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// pruneEvery is how often a writer with nothing to write still applies
// retention.
const pruneEvery = time.Minute

// Reader is what preflight and the fleet page need of an inventory: the
// records and whether they are complete. *Store implements it.
type Reader interface {
	// List returns the records of endpoint ("" = all).
	List(ctx context.Context, endpoint string) ([]Record, error)
	// Stats says how complete the store is; never conclude "nothing
	// breaks" unless Stats().Complete().
	Stats() Stats
}

var _ Reader = (*Store)(nil)

// ErrClosed is returned by Flush and List after Close. Do not retry.
var ErrClosed = errors.New("inventory store closed")

// key identifies a record.
type key struct{ caller, endpoint, digest string }

// pending is a report waiting for the writer.
type pending struct {
	rec   Record // Count is how many reports since the last write
	fresh bool   // not yet written at all: write at once
}

// Store is an inventory over a SQL backend. It is safe for concurrent use.
type Store struct {
	b    backend
	opts Options

	mu       sync.Mutex
	batch    map[key]*pending
	known    map[key]struct{} // written before: repeat counts wait for the ticker
	inflight int              // reports taken by the writer, not yet written
	flushed  *sync.Cond

	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}
	closed  atomic.Bool

	lastPrune time.Time // the writer's alone (and start's, before it runs)

	records, dropped, evicted, expired atomic.Int64
	lastErr                            atomic.Pointer[string]
}

func newStore(b backend, opts Options) *Store {
	opts.defaults()
	s := &Store{b: b, opts: opts, batch: map[key]*pending{}, known: map[key]struct{}{}, wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	s.flushed = sync.NewCond(&s.mu)
	return s
}

// start counts the records and starts the writer.
func (s *Store) start(ctx context.Context) error {
	if err := s.prune(ctx); err != nil {
		return err
	}
	go s.writer()
	return nil
}

// Observe records one report of env by caller on endpoint. It never
// blocks on the backend: repeat reports of a known record are counted in
// memory (a digest compare), new ones queued for the writer; when
// Options.Queue distinct reports are already waiting, the report is
// dropped and counted.
func (s *Store) Observe(_ context.Context, caller, endpoint string, env diagnose.ClientEnvironment) {
	if s.closed.Load() {
		return
	}
	env = Sanitize(env)
	k := key{caller, endpoint, Digest(env)}
	now := s.opts.Now()
	s.mu.Lock()
	if p, ok := s.batch[k]; ok {
		p.rec.Count++
		p.rec.LastSeen = now
		s.mu.Unlock()
		return
	}
	if len(s.batch) >= s.opts.Queue {
		s.mu.Unlock()
		s.drop("queue-full", 1)
		return
	}
	_, known := s.known[k]
	s.batch[k] = &pending{rec: Record{Caller: caller, Endpoint: endpoint, Env: env, FirstSeen: now, LastSeen: now, Count: 1, Digest: k.digest}, fresh: !known}
	s.mu.Unlock()
	if known {
		return // the ticker writes the count
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) drop(reason string, n int64) {
	s.dropped.Add(n)
	if s.opts.OnDrop != nil {
		for range n {
			s.opts.OnDrop(reason)
		}
	}
}

// writer writes batches: at once when a new record waits, every
// FlushEvery for repeat counts, and a last time on Close.
func (s *Store) writer() {
	defer close(s.done)
	t := time.NewTicker(s.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.wake:
		case <-t.C:
		case <-s.closing:
			s.write()
			return
		}
		s.write()
	}
}

// write takes the batch and writes it in one transaction, then prunes.
func (s *Store) write() {
	s.mu.Lock()
	b := s.batch
	s.batch = map[key]*pending{}
	s.inflight = len(b)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight = 0
		s.flushed.Broadcast()
		s.mu.Unlock()
	}()
	if len(b) == 0 {
		// Nothing to write: still drop what retention expired now and then,
		// so Stats stays true on a quiet broker.
		if s.opts.Now().Sub(s.lastPrune) >= pruneEvery {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.prune(ctx); err != nil {
				s.fail("prune inventory", err)
			}
		}
		return
	}
	recs := make([]Record, 0, len(b))
	var n int64
	for _, p := range b {
		recs = append(recs, p.rec)
		n += p.rec.Count
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.b.upsert(ctx, recs); err != nil {
		s.fail("write inventory", err)
		s.drop("write-error", n)
		return
	}
	s.mu.Lock()
	if len(s.known) > 2*s.opts.MaxRecords {
		clear(s.known)
	}
	for k := range b {
		s.known[k] = struct{}{}
	}
	s.mu.Unlock()
	if err := s.prune(ctx); err != nil {
		s.fail("prune inventory", err)
	}
}

func (s *Store) fail(what string, err error) {
	msg := what + ": " + err.Error()
	s.lastErr.Store(&msg)
	s.opts.Log.Warn("inventory write failed", "what", what, "err", err)
}

// prune drops records past retention and evicts the least recently seen
// beyond MaxRecords, then recounts.
func (s *Store) prune(ctx context.Context) error {
	s.lastPrune = s.opts.Now()
	n, err := s.b.expire(ctx, s.opts.Now().Add(-s.opts.Retention))
	if err != nil {
		return fmt.Errorf("expire: %w", err)
	}
	s.expired.Add(n)
	count, err := s.b.count(ctx)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if over := count - int64(s.opts.MaxRecords); over > 0 {
		n, err := s.b.evict(ctx, over)
		if err != nil {
			return fmt.Errorf("evict: %w", err)
		}
		s.evicted.Add(n)
		count -= n
	}
	s.records.Store(count)
	return nil
}

// Flush waits until every report observed before the call is written (or
// dropped), or ctx ends.
func (s *Store) Flush(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.flushed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.batch) > 0 || s.inflight > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
		s.flushed.Wait()
	}
	return nil
}

// List returns the records of endpoint ("" = every endpoint), sorted by
// endpoint, caller, then last seen (newest first). Reports not yet
// written are not included (Flush first to see them).
func (s *Store) List(ctx context.Context, endpoint string) ([]Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	recs, err := s.b.list(ctx, endpoint, s.opts.Now().Add(-s.opts.Retention))
	if err != nil {
		return nil, fmt.Errorf("list inventory: %w", err)
	}
	slices.SortFunc(recs, func(a, b Record) int {
		if c := strings.Compare(a.Endpoint, b.Endpoint); c != 0 {
			return c
		}
		if c := strings.Compare(a.Caller, b.Caller); c != 0 {
			return c
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return recs, nil
}

// Stats returns the store's state.
func (s *Store) Stats() Stats {
	st := Stats{
		Backend: s.b.name(), Records: s.records.Load(), Capacity: int64(s.opts.MaxRecords),
		Dropped: s.dropped.Load(), Evicted: s.evicted.Load(), Expired: s.expired.Load(), Retention: s.opts.Retention,
	}
	st.Full = st.Records >= st.Capacity
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// Close writes what is pending and closes the backend.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.closing)
	<-s.done
	return s.b.close()
}

// Limits on what one report may store, so a client cannot fill the store
// with one huge environment.
const (
	MaxPackages = 64
	MaxString   = 256
	MaxPlugins  = 32
)

// passwordVars are allowlisted variables whose value is a secret: only
// the marker SetMarker is stored for them.
var passwordVars = []string{"MYSQL_PWD"}

// SetMarker is the value stored for an allowlisted variable that holds a
// secret (MYSQL_PWD): it says the variable is set, never what it is.
const SetMarker = "(set)"

// AllowedEnv returns the environment variables whose values an inventory
// keeps: every variable a driver in broker/driver reads, plus SSL_CERT_FILE
// and SSL_CERT_DIR, sorted.
func AllowedEnv() []string { return slices.Clone(allowedEnv()) }

var allowedEnv = sync.OnceValue(func() []string {
	out := []string{"SSL_CERT_FILE", "SSL_CERT_DIR"}
	for _, d := range driver.All() {
		out = append(out, d.Env.EnvVars...)
	}
	slices.Sort(out)
	return slices.Compact(out)
})

// Sanitize returns env as an inventory stores it: only allowlisted
// environment variables (AllowedEnv; a password variable as SetMarker),
// no client time, strings cut to MaxString and lists to their limits.
func Sanitize(env diagnose.ClientEnvironment) diagnose.ClientEnvironment {
	out := diagnose.ClientEnvironment{Driver: cut(env.Driver), CABundle: cut(env.CABundle), Runtime: cut(env.Runtime)}
	allowed := allowedEnv()
	for name, v := range env.Env {
		if _, ok := slices.BinarySearch(allowed, name); !ok {
			continue
		}
		if out.Env == nil {
			out.Env = map[string]string{}
		}
		if slices.Contains(passwordVars, name) {
			v = SetMarker
		}
		out.Env[name] = cut(v)
	}
	for i, p := range env.Packages {
		if i == MaxPackages {
			break
		}
		q := diagnose.ClientPackage{Name: cut(p.Name), Version: cut(p.Version), ClientLibrary: cut(p.ClientLibrary), CExtension: p.CExtension, PluginDir: cut(p.PluginDir)}
		for j, pl := range p.ClientPlugins {
			if j == MaxPlugins {
				break
			}
			q.ClientPlugins = append(q.ClientPlugins, cut(pl))
		}
		slices.Sort(q.ClientPlugins)
		out.Packages = append(out.Packages, q)
	}
	slices.SortFunc(out.Packages, func(a, b diagnose.ClientPackage) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func cut(s string) string {
	if len(s) <= MaxString {
		return s
	}
	return strings.ToValidUTF8(s[:MaxString], "")
}

// Digest is the hex SHA-256 of a sanitized environment: equal for equal
// environments whatever the order of packages and variables.
func Digest(env diagnose.ClientEnvironment) string {
	buf := make([]byte, 0, 512)
	field := func(s string) {
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		buf = append(buf, ';')
	}
	field(env.Driver)
	field(env.CABundle)
	field(env.Runtime)
	names := make([]string, 0, len(env.Env))
	for n := range env.Env {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		field("env")
		field(n)
		field(env.Env[n])
	}
	for _, p := range env.Packages {
		field("pkg")
		field(p.Name)
		field(p.Version)
		field(p.ClientLibrary)
		field(strconv.FormatBool(p.CExtension))
		field(p.PluginDir)
		for _, pl := range p.ClientPlugins {
			field(pl)
		}
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}
