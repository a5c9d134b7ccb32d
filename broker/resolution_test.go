package broker

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/driver"
)

// refusingAddr is a loopback address nothing listens on (the greeting read
// of auth: auto fails at once; a configured password still decides).
func refusingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func autoConfig(t *testing.T, addr, user string) *config.Config {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	body := fmt.Sprintf("endpoints:\n  auto:\n    host: %s\n    port: %s\n    user: %s\n    auth: auto\n    password: {env: AUTO_PW}\n    tls: {mode: verify-identity}\n"+
		"  fixed:\n    host: %s\n    port: %s\n    user: app\n    auth: password\n    password: {env: AUTO_PW}\n    tls: {mode: disabled}\n", host, port, user, host, port)
	cfg, err := config.Parse("reload", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestReloadDropsOldResolutions: 100 reloads, each followed by Params on
// an auth: auto endpoint, keep one cached resolution (for the current
// config's endpoint) and a flat heap, although every config carries 256 KiB.
func TestReloadDropsOldResolutions(t *testing.T) {
	addr := refusingAddr(t)
	pw := credential.NewPasswords(func(string) (string, bool) { return "auto-pw", true })
	load := func() *config.Config {
		c := autoConfig(t, addr, "app")
		c.Endpoints["auto"].TLS.CAPEM = make([]byte, 256<<10) // weight that a kept old config would show
		return c
	}
	s := New(load(), &credential.Router{Password: pw}, nil)
	ctx := context.Background()
	params := func() {
		t.Helper()
		for _, name := range []string{"auto", "fixed"} {
			p, err := s.Params(ctx, name, "")
			if err != nil {
				t.Fatalf("Params(%s): %v", name, err)
			}
			if p.Resolution.Method != config.AuthPassword {
				t.Fatalf("Params(%s) method = %q, want password", name, p.Resolution.Method)
			}
		}
	}
	params()
	base := heapAlloc()
	for range 100 {
		s.SetConfig(load())
		params()
	}
	grew := int64(heapAlloc()) - int64(base)
	if n := s.res.size(); n != 1 {
		t.Errorf("%d cached resolutions after 100 reloads, want 1", n)
	}
	if c, ok := s.res.m["auto"]; !ok || c.src != s.Config().Endpoints["auto"] {
		t.Errorf("the cached resolution is not for the current config's endpoint")
	}
	if grew > 4<<20 {
		t.Errorf("heap grew %d MiB over 100 reloads of a 256 KiB config: old configs are kept alive", grew>>20)
	}
	t.Logf("heap %+d KiB over 100 reloads", grew>>10)
}

// TestReloadKeepsUnchangedResolution: a reload with the same endpoint value
// keeps its resolution (no new greeting read), a changed value drops it,
// a removed endpoint drops it.
func TestReloadKeepsUnchangedResolution(t *testing.T) {
	addr := refusingAddr(t)
	pw := credential.NewPasswords(func(string) (string, bool) { return "auto-pw", true })
	s := New(autoConfig(t, addr, "app"), &credential.Router{Password: pw}, nil)
	ctx := context.Background()
	if _, err := s.Params(ctx, "auto", ""); err != nil {
		t.Fatal(err)
	}
	at := s.res.m["auto"].at
	s.SetConfig(autoConfig(t, addr, "app"))
	if c, ok := s.res.m["auto"]; !ok || c.at != at || c.src != s.Config().Endpoints["auto"] || c.ep.User != "app" {
		t.Fatalf("unchanged endpoint: resolution dropped or not re-pointed (ok=%v)", ok)
	}
	s.SetConfig(autoConfig(t, addr, "other"))
	if _, ok := s.res.m["auto"]; ok {
		t.Fatal("changed endpoint: old resolution kept")
	}
	p, err := s.Params(ctx, "auto", "")
	if err != nil || p.User != "other" {
		t.Fatalf("after the change: %v, user %+v", err, p)
	}
	cfg := autoConfig(t, addr, "other")
	delete(cfg.Endpoints, "auto")
	s.SetConfig(cfg)
	if n := s.res.size(); n != 0 {
		t.Fatalf("removed endpoint: %d resolutions kept", n)
	}
}

// TestReloadServesNoStaleView: a request that read its endpoint from the
// old config and renders its view after a reload (the reload raced it)
// does not leave the old endpoint's hints in the new config's cache; the
// next request gets the new endpoint's hints, and no old config is kept
// alive by any cache (weak pointers to every replaced config are cleared
// after a GC).
func TestReloadServesNoStaleView(t *testing.T) {
	addr := refusingAddr(t)
	pw := credential.NewPasswords(func(string) (string, bool) { return "auto-pw", true })
	s := New(autoConfig(t, addr, "app"), &credential.Router{Password: pw}, nil)
	r, err := driver.For("pymysql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := s.Config()
	oldEp := old.Endpoints["fixed"]
	next := autoConfig(t, addr, "app")
	next.Endpoints["fixed"].User = "changed" // before it is shared
	s.SetConfig(next)
	if v := s.view(old, oldEp, r); v.hints.Options["user"] != "app" {
		t.Fatalf("raced view = %+v, want the old endpoint's hints", v.hints)
	}
	p, err := s.Params(ctx, "fixed", "pymysql")
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "changed" || p.Hints.Options["user"] != "changed" {
		t.Fatalf("after the reload: user %q, hints user %v: the old endpoint's view was served", p.User, p.Hints.Options["user"])
	}

	var replaced []weak.Pointer[config.Config]
	for i := range 20 {
		replaced = append(replaced, weak.Make(s.Config()))
		s.SetConfig(autoConfig(t, addr, fmt.Sprintf("app%d", i)))
		for _, name := range []string{"auto", "fixed"} {
			if _, err := s.Params(ctx, name, "pymysql"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Validate(ctx, ValidateRequest{Endpoints: []string{"fixed"}, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	old, oldEp = nil, nil
	runtime.GC()
	runtime.GC()
	for i, w := range replaced {
		if w.Value() != nil {
			t.Errorf("config %d is still reachable after it was replaced", i)
		}
	}
}

// TestFlightKeyByValue: identical validations share a login across a
// reload only when the endpoint's value is unchanged (a new pointer with
// the same value shares; a changed user, CA bundle or compare does not).
func TestFlightKeyByValue(t *testing.T) {
	addr := refusingAddr(t)
	a := autoConfig(t, addr, "app").Endpoints["auto"]
	same := autoConfig(t, addr, "app").Endpoints["auto"]
	user := autoConfig(t, addr, "other").Endpoints["auto"]
	ca := *a
	ca.TLS.CAPEM = []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
	tests := []struct {
		name  string
		b     *config.Endpoint
		cmp   bool
		share bool
	}{
		{"same value, new config", same, false, true},
		{"changed user", user, false, false},
		{"changed CA bundle", &ca, false, false},
		{"compare differs", same, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flightKey(a, false) == flightKey(tt.b, tt.cmp); got != tt.share {
				t.Errorf("shared = %v, want %v", got, tt.share)
			}
		})
	}
}
