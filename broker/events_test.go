package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/observe"
)

// events is a sink that records every event, and refuses credentials
// while refuse is set.
type events struct {
	mu     sync.Mutex
	got    []observe.Event
	refuse error
}

func (e *events) Observe(_ context.Context, ev observe.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	if _, ok := ev.(observe.CredentialIssued); ok {
		return e.refuse
	}
	return nil
}

func (e *events) take() []observe.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	return out
}

const eventsConfig = `unix: {path: /run/connbroker-test/broker.sock}
endpoints:
  db:
    host: 127.0.0.1
    port: %d
    user: app
    auth: password
    password: {env: EVENTS_PW}
    tls: {mode: disabled}
policy:
  - caller: uid:1001
    endpoints: [db]
`

func eventsService(t *testing.T, port int) (*Service, *events, *events) {
	t.Helper()
	cfg, err := config.Parse("events", []byte(fmt.Sprintf(eventsConfig, port)))
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return "pw-" + k, k == "EVENTS_PW" }
	s := New(cfg, &credential.Router{Password: credential.NewPasswords(env)}, nil)
	first, second := &events{}, &events{}
	s.Subscribe(first)
	s.Subscribe(second)
	return s, first, second
}

// errComparer compares errors by message (events carry domain errors).
var errComparer = cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error()) })

func TestParamsEvents(t *testing.T) {
	s, first, second := eventsService(t, 3306)
	app := caller.NewContext(context.Background(), caller.FromUID(1001))
	if _, err := s.Params(app, "db", ""); err != nil {
		t.Fatal(err)
	}
	want := []observe.Event{observe.CredentialIssued{Endpoint: "db", DBUser: "app", Method: "password", Kind: "password"}}
	if diff := cmp.Diff(want, first.take()); diff != "" {
		t.Errorf("first sink (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, second.take()); diff != "" {
		t.Errorf("second sink (-want +got):\n%s", diff)
	}

	// A sink that refuses the credential (the audit log failing closed):
	// no params, and its error is in the chain.
	refused := errors.New("audit trail full")
	second.refuse = refused
	if p, err := s.Params(app, "db", ""); p != nil || !errors.Is(err, refused) {
		t.Errorf("refused credential: %v, %v; want no params and the sink's error", p, err)
	}
	second.refuse = nil
	if n := len(first.take()); n != 1 {
		t.Errorf("a refused credential emitted %d events to the other sink, want 1 (the issue, no failure)", n)
	}
	second.take()

	// A denial is a Denied event (an unknown endpoint is denied too: the
	// policy does not tell what exists), a bad request an IssueFailed.
	other := caller.NewContext(context.Background(), caller.FromUID(1002))
	_, denyErr := s.Params(other, "db", "")
	_, unknownErr := s.Params(app, "nope", "")
	_, argErr := s.Params(app, "Not A Name", "")
	want = []observe.Event{
		observe.Denied{Endpoint: "db", DBUser: "app", Err: denyErr},
		observe.Denied{Endpoint: "nope", Err: unknownErr},
		observe.IssueFailed{Endpoint: "Not A Name", Err: argErr},
	}
	if !errors.Is(denyErr, ErrPermissionDenied) || !errors.Is(unknownErr, ErrPermissionDenied) || !errors.Is(argErr, ErrInvalidArgument) {
		t.Fatalf("errors: %v, %v, %v", denyErr, unknownErr, argErr)
	}
	if diff := cmp.Diff(want, first.take(), errComparer); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestValidationEvents(t *testing.T) {
	// A server that accepts and never greets: both requests wait on one
	// login (singleflight) until the timeout.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	s, first, _ := eventsService(t, lis.Addr().(*net.TCPAddr).Port)
	app := caller.NewContext(context.Background(), caller.FromUID(1001))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Validate(app, ValidateRequest{Endpoints: []string{"db"}, Timeout: 700 * time.Millisecond}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var logins, shared int
	for _, ev := range first.take() {
		v, ok := ev.(observe.Validation)
		if !ok {
			continue
		}
		if v.Endpoint != "db" || v.DBUser != "app" || v.OK || v.Finding == "" || v.Reason == "" || v.Duration <= 0 {
			t.Errorf("validation event %+v: want a failed db login with a finding, a reason and a duration", v)
		}
		if v.Shared {
			shared++
		} else {
			logins++
		}
	}
	if logins != 1 || shared != 1 {
		t.Errorf("%d login and %d shared validation events, want 1 and 1 (one login for two requests)", logins, shared)
	}

	_, err = s.Validate(app, ValidateRequest{Endpoints: []string{"db", "db"}})
	_, denied := s.Validate(app, ValidateRequest{Endpoints: []string{"nope"}})
	want := []observe.Event{observe.ValidationRefused{Err: err}, observe.Denied{Endpoint: "nope", Err: denied}}
	if diff := cmp.Diff(want, first.take(), errComparer); diff != "" {
		t.Errorf("refused validation (-want +got):\n%s", diff)
	}
}

func TestReloadEvents(t *testing.T) {
	s, first, _ := eventsService(t, 3306)
	nc, err := config.Parse("events", []byte(fmt.Sprintf(eventsConfig, 3307)+`  - caller: uid:1003
    endpoints: [db]
`))
	if err != nil {
		t.Fatal(err)
	}
	nc.Endpoints["added"] = &config.Endpoint{Name: "added", Host: "h", Port: 1, User: "u", Auth: config.AuthPassword}
	before := s.Config()
	s.SetConfig(nc)
	s.ReloadApplied(context.Background(), before)
	s.RejectReload(context.Background(), errors.New("bad port"))
	want := []observe.Event{
		observe.Reload{OK: true, Changed: []string{"added", "db"}},
		observe.Reload{OK: false, Err: errors.New("bad port")},
	}
	if diff := cmp.Diff(want, first.take(), errComparer); diff != "" {
		t.Errorf("reloads (-want +got):\n%s", diff)
	}
}

// TestChangedEndpointsByValue: a reload names exactly the endpoints whose
// value changed, by the same test as their fingerprints (every field, the
// CA bundle's bytes included), not by pointer.
func TestChangedEndpointsByValue(t *testing.T) {
	const text = "endpoints:\n  a: {host: a.internal, user: u, auth: password, password: {env: PW}}\n  b: {host: b.internal, user: u, auth: password, password: {env: PW}}\n"
	parse := func() *config.Config {
		c, err := config.Parse("changed", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	yes := true
	for _, tc := range []struct {
		name   string
		change func(*config.Endpoint)
	}{
		{"unchanged", func(*config.Endpoint) {}},
		{"port", func(e *config.Endpoint) { e.Port = 3307 }},
		{"password source", func(e *config.Endpoint) { e.Password = &config.PasswordSource{File: "/pw"} }},
		{"CA bytes", func(e *config.Endpoint) { e.TLS.CAPEM = []byte("-----BEGIN CERTIFICATE-----") }},
		{"aws_api set", func(e *config.Endpoint) { e.AWSAPI = &yes }},
		{"diagnostic", func(e *config.Endpoint) { e.Diagnostic = &config.DiagnosticAccount{User: "d"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, nc := parse(), parse()
			tc.change(nc.Endpoints["b"])
			got := changedEndpoints(old, nc)
			var want []string
			for _, n := range []string{"a", "b"} {
				if fingerprint(old.Endpoints[n]) != fingerprint(nc.Endpoints[n]) {
					want = append(want, n)
				}
			}
			if tc.name == "unchanged" && len(want) != 0 || tc.name != "unchanged" && !slices.Equal(want, []string{"b"}) {
				t.Fatalf("fingerprints changed for %v (fix the case)", want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("changed %v, fingerprints say %v", got, want)
			}
		})
	}
}
