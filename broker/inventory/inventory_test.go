package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/inventory"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func pymysql(version string) diagnose.ClientEnvironment {
	return diagnose.ClientEnvironment{
		Driver:   "pymysql",
		Runtime:  "CPython 3.11.2",
		Packages: []diagnose.ClientPackage{{Name: "PyMySQL", Version: version}, {Name: "cryptography", Version: "43.0.0"}},
	}
}

func openSQLite(t *testing.T, path string, o inventory.Options) *inventory.Store {
	t.Helper()
	s, err := inventory.OpenSQLite(context.Background(), path, o)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func flushList(t *testing.T, s *inventory.Store, endpoint string) []inventory.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	recs, err := s.List(ctx, endpoint)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return recs
}

func TestObserveDedupesAndCounts(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openSQLite(t, path, inventory.Options{Now: clk.Now})
	ctx := context.Background()
	env := pymysql("1.0.2")
	env.ClientTime = clk.Now() // differs per call; must not split records
	s.Observe(ctx, "uri:spiffe://prod/a", "orders", env)
	clk.Add(time.Minute)
	env.ClientTime = clk.Now()
	// The same environment, packages in another order.
	env.Packages = []diagnose.ClientPackage{env.Packages[1], env.Packages[0]}
	s.Observe(ctx, "uri:spiffe://prod/a", "orders", env)
	s.Observe(ctx, "uri:spiffe://prod/a", "orders", pymysql("1.2.1")) // a changed environment
	s.Observe(ctx, "uri:spiffe://prod/b", "orders", pymysql("1.0.2")) // another caller
	s.Observe(ctx, "uri:spiffe://prod/a", "billing", pymysql("1.0.2"))

	recs := flushList(t, s, "orders")
	type row struct {
		Caller, Version string
		Count           int64
		First, Last     time.Time
	}
	var got []row
	for _, r := range recs {
		p, _ := r.Env.Package("PyMySQL")
		if !r.Env.ClientTime.IsZero() {
			t.Errorf("client time stored: %v", r.Env.ClientTime)
		}
		got = append(got, row{r.Caller, p.Version, r.Count, r.FirstSeen.UTC(), r.LastSeen.UTC()})
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	want := []row{
		{"uri:spiffe://prod/a", "1.0.2", 2, t0, t0.Add(time.Minute)},
		{"uri:spiffe://prod/a", "1.2.1", 1, t0.Add(time.Minute), t0.Add(time.Minute)},
		{"uri:spiffe://prod/b", "1.0.2", 1, t0.Add(time.Minute), t0.Add(time.Minute)},
	}
	// Same caller: newest first, so 1.0.2 (last seen t0+1m) and 1.2.1 (t0+1m) tie; sort them stably by version.
	if len(got) == 3 && got[0].Version > got[1].Version {
		got[0], got[1] = got[1], got[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if all := flushList(t, s, ""); len(all) != 4 {
		t.Errorf("List(\"\") = %d records, want 4", len(all))
	}
	st := s.Stats()
	if st.Backend != "sqlite" || st.Records != 4 || st.Full || st.Dropped != 0 || !st.Complete() {
		t.Errorf("Stats = %+v", st)
	}

	// Repeat reports of a written record are counted too, and survive a
	// reopen.
	s.Observe(ctx, "uri:spiffe://prod/b", "orders", pymysql("1.0.2"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSQLite(t, path, inventory.Options{Now: clk.Now})
	for _, r := range flushList(t, s2, "orders") {
		if r.Caller == "uri:spiffe://prod/b" && r.Count != 2 {
			t.Errorf("after reopen, b's count = %d, want 2", r.Count)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("inventory file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestMaxRecordsEvictsLeastRecentlySeen proves the size bound: the store
// never holds more than MaxRecords, the least recently seen go first, and
// Stats says it is full.
func TestMaxRecordsEvictsLeastRecentlySeen(t *testing.T) {
	clk := newClock()
	s := openSQLite(t, filepath.Join(t.TempDir(), "inv.db"), inventory.Options{Now: clk.Now, MaxRecords: 3})
	ctx := context.Background()
	for _, v := range []string{"1", "2", "3", "4", "5"} {
		s.Observe(ctx, "uid:1000", "orders", pymysql(v))
		flushList(t, s, "")
		clk.Add(time.Second)
	}
	// "2" seen again is the most recent now, but it was evicted already
	// (by "5"): it comes back as a new record and evicts "3".
	s.Observe(ctx, "uid:1000", "orders", pymysql("2"))
	recs := flushList(t, s, "orders")
	var got []string
	for _, r := range recs {
		p, _ := r.Env.Package("PyMySQL")
		got = append(got, p.Version)
	}
	if diff := cmp.Diff([]string{"2", "5", "4"}, got); diff != "" {
		t.Errorf("kept versions, newest first (-want +got):\n%s", diff)
	}
	st := s.Stats()
	if st.Records != 3 || !st.Full || st.Evicted != 3 || st.Complete() {
		t.Errorf("Stats = %+v, want 3 records, full, 3 evicted, not complete", st)
	}
}

// TestRetentionDropsOldRecords proves the age bound.
func TestRetentionDropsOldRecords(t *testing.T) {
	clk := newClock()
	s := openSQLite(t, filepath.Join(t.TempDir(), "inv.db"), inventory.Options{Now: clk.Now, Retention: time.Hour})
	ctx := context.Background()
	s.Observe(ctx, "uid:1", "orders", pymysql("1.0.2"))
	flushList(t, s, "")
	clk.Add(59 * time.Minute)
	s.Observe(ctx, "uid:2", "orders", pymysql("1.0.2"))
	if n := len(flushList(t, s, "")); n != 2 {
		t.Fatalf("%d records before retention, want 2", n)
	}
	clk.Add(2 * time.Minute) // uid:1 is 61m old, uid:2 2m
	// List hides expired records even before the writer prunes them.
	recs := flushList(t, s, "")
	if len(recs) != 1 || recs[0].Caller != "uid:2" {
		t.Fatalf("after 61m: %+v, want only uid:2", recs)
	}
	s.Observe(ctx, "uid:3", "orders", pymysql("1.0.2")) // a write prunes
	flushList(t, s, "")
	if st := s.Stats(); st.Records != 2 || st.Expired != 1 {
		t.Errorf("Stats = %+v, want 2 records, 1 expired", st)
	}
}

// TestQueueFullDropsAndCounts proves Observe never blocks: with more
// distinct reports than Queue arriving faster than the writer writes, the
// rest are dropped and counted (every report is either in a record's count
// or in Dropped), and OnDrop hears each.
func TestQueueFullDropsAndCounts(t *testing.T) {
	clk := newClock()
	var drops sync.Map
	s := openSQLite(t, filepath.Join(t.TempDir(), "inv.db"), inventory.Options{Now: clk.Now, Queue: 2, OnDrop: func(r string) {
		n, _ := drops.LoadOrStore(r, new(int))
		*n.(*int)++
	}})
	ctx := context.Background()
	start := time.Now()
	for i := range 1000 {
		s.Observe(ctx, "uid:1", "orders", pymysql(strings.Repeat("9", i%50+1)))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("1000 Observe calls took %v", d)
	}
	recs := flushList(t, s, "")
	st := s.Stats()
	var counted int64
	for _, r := range recs {
		counted += r.Count
	}
	// Every report is either counted in a record or counted as dropped.
	if st.Dropped == 0 || counted+st.Dropped != 1000 {
		t.Errorf("counted %d + dropped %d != 1000 (Stats %+v)", counted, st.Dropped, st)
	}
	if st.Complete() {
		t.Errorf("Complete() after drops")
	}
	n, _ := drops.Load("queue-full")
	if n == nil || int64(*n.(*int)) != st.Dropped {
		t.Errorf("OnDrop(queue-full) calls = %v, Dropped = %d", n, st.Dropped)
	}
}

// TestSecretsAreNotStored: a client that sends secret-looking variables
// gets only allowlisted ones stored, and MYSQL_PWD (allowlisted: the CLIs
// read it) only as a marker.
func TestSecretsAreNotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.db")
	s := openSQLite(t, path, inventory.Options{})
	env := pymysql("1.0.2")
	env.Env = map[string]string{
		"AWS_SECRET_ACCESS_KEY":            "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
		"DB_PASSWORD":                      "hunter2-very-secret",
		"MYSQL_PWD":                        "mysql-pwd-secret-value",
		"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN": "1",
		"SSL_CERT_FILE":                    "/etc/ssl/certs/ca-certificates.crt",
	}
	s.Observe(context.Background(), "uid:1", "orders", env)
	recs := flushList(t, s, "")
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	want := map[string]string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN": "1", "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "MYSQL_PWD": inventory.SetMarker}
	if diff := cmp.Diff(want, recs[0].Env.Env); diff != "" {
		t.Errorf("stored env (-want +got):\n%s", diff)
	}
	s.Close()
	// Not in the file either (WAL included).
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"wJalrXUtnFEMI", "hunter2", "mysql-pwd-secret", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q", f, secret)
			}
		}
	}
}

func TestSanitizeBoundsSizes(t *testing.T) {
	env := diagnose.ClientEnvironment{Driver: strings.Repeat("é", 300)}
	for i := range 100 {
		env.Packages = append(env.Packages, diagnose.ClientPackage{Name: strings.Repeat("p", i+1)})
	}
	got := inventory.Sanitize(env)
	if len(got.Driver) > inventory.MaxString || !strings.HasPrefix(got.Driver, "é") || strings.ContainsRune(got.Driver, '\uFFFD') {
		t.Errorf("driver cut to %d bytes: %q", len(got.Driver), got.Driver[:10])
	}
	if len(got.Packages) != inventory.MaxPackages {
		t.Errorf("%d packages kept, want %d", len(got.Packages), inventory.MaxPackages)
	}
	if inventory.Digest(got) != inventory.Digest(inventory.Sanitize(got)) {
		t.Error("Sanitize is not idempotent under Digest")
	}
}

func TestAllowedEnv(t *testing.T) {
	got := inventory.AllowedEnv()
	for _, want := range []string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "MARIADB_PLUGIN_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("AllowedEnv() = %v lacks %s", got, want)
		}
	}
}

func BenchmarkObserveRepeat(b *testing.B) {
	s, err := inventory.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "inv.db"), inventory.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	env := pymysql("1.0.2")
	env.Env = map[string]string{"SSL_CERT_FILE": "/etc/ssl/cert.pem"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.Observe(ctx, "uri:spiffe://prod/ns/orders/sa/api", "orders", env)
	}
}

// TestQuietStoreStillExpires: with no reports at all, the writer applies
// retention within a minute (of the store's clock), so Stats does not count
// expired records.
func TestQuietStoreStillExpires(t *testing.T) {
	clk := newClock()
	s := openSQLite(t, filepath.Join(t.TempDir(), "inv.db"), inventory.Options{Now: clk.Now, Retention: time.Hour, FlushEvery: 10 * time.Millisecond})
	s.Observe(context.Background(), "uid:1", "orders", pymysql("1.0.2"))
	flushList(t, s, "")
	if st := s.Stats(); st.Records != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	clk.Add(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Records != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("expired record still counted: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Expired != 1 {
		t.Errorf("Stats = %+v, want 1 expired", st)
	}
}
