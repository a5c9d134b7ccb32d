package connbroker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// caStore makes GetConnectionParams compact: it remembers the CA bundles
// received (by SHA-256) and the last one per endpoint, so a request names
// the bundle held (known_ca_sha256) and the broker leaves the PEM out; it
// asks for no option repeating a ConnectionParams field
// (omit_param_options); and it keeps the last complete view per endpoint
// and driver (every field but endpoint and credential, by view_sha256), so
// a repeat request names it (known_view_sha256) and the broker sends only
// the credential. complete puts everything back. Safe for concurrent use.
type caStore struct {
	mu       sync.Mutex
	pems     map[[sha256.Size]byte]string
	endpoint map[string][]byte
	views    map[viewKey]heldView
}

// viewKey names the params of one endpoint for one driver.
type viewKey struct{ endpoint, driver string }

// heldView is a complete view and its digest. Its messages are shared by
// every response completed from it: read them, never modify them.
type heldView struct {
	sum    []byte
	params *v1.ConnectionParams // no endpoint, no credential
}

// errViewUnknown says the broker left out a view this store does not hold
// (it was dropped, or another one replaced it): ask again without a digest.
var errViewUnknown = errors.New("params sent for a view this connector does not hold")

// request is the compact request for endpoint and driver.
func (s *caStore) request(endpoint, driver string) *v1.GetConnectionParamsRequest {
	s.mu.Lock()
	known := s.endpoint[endpoint]
	view := s.views[viewKey{endpoint, driver}].sum
	s.mu.Unlock()
	return &v1.GetConnectionParamsRequest{Endpoint: endpoint, Driver: driver, KnownCaSha256: known, OmitParamOptions: true, KnownViewSha256: view}
}

// forgetView drops the view held for endpoint and driver: the next request
// asks for the whole params.
func (s *caStore) forgetView(endpoint, driver string) {
	s.mu.Lock()
	delete(s.views, viewKey{endpoint, driver})
	s.mu.Unlock()
}

// complete makes a compact response whole, in place: a left-out view from
// the one held (errViewUnknown when it is not), tls.ca_pem from the bundle
// held, the options named by hints.param_options from the fields they
// repeat; it then holds the completed view. It fails when the PEM sent
// does not match its digest, or was left out for a digest this store does
// not hold.
func (s *caStore) complete(endpoint, driver string, p *v1.ConnectionParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := viewKey{endpoint, driver}
	if p.GetViewOmitted() {
		v, ok := s.views[key]
		if !ok || !bytes.Equal(v.sum, p.GetViewSha256()) {
			return fmt.Errorf("endpoint %q: %w", endpoint, errViewUnknown)
		}
		vp := v.params
		p.Host, p.Port, p.User, p.Database, p.Tls, p.Hints, p.Resolution = vp.Host, vp.Port, vp.User, vp.Database, vp.Tls, vp.Hints, vp.Resolution
		p.ViewOmitted = false
		return nil
	}
	t := p.GetTls()
	switch {
	case t.GetCaPem() != "":
		sum := sha256.Sum256([]byte(t.GetCaPem()))
		if len(t.GetCaSha256()) > 0 && !bytes.Equal(sum[:], t.GetCaSha256()) {
			return fmt.Errorf("endpoint %q: tls.ca_pem does not match tls.ca_sha256: %w", endpoint, ErrHints)
		}
		if s.pems == nil {
			s.pems, s.endpoint = map[[sha256.Size]byte]string{}, map[string][]byte{}
		}
		s.pems[sum], s.endpoint[endpoint] = t.GetCaPem(), sum[:]
	case len(t.GetCaSha256()) == 0:
		delete(s.endpoint, endpoint)
	default:
		pem, ok := s.pems[[sha256.Size]byte(t.GetCaSha256())]
		if len(t.GetCaSha256()) != sha256.Size || !ok {
			return fmt.Errorf("endpoint %q: tls.ca_pem left out for a CA bundle this connector does not hold: %w", endpoint, ErrHints)
		}
		t.CaPem = pem
	}
	CompleteOptions(p)
	if len(p.GetViewSha256()) != sha256.Size {
		delete(s.views, key)
		return nil
	}
	if s.views == nil {
		s.views = map[viewKey]heldView{}
	}
	s.views[key] = heldView{sum: p.GetViewSha256(), params: &v1.ConnectionParams{
		Host: p.Host, Port: p.Port, User: p.User, Database: p.Database, Tls: p.Tls, Hints: p.Hints, Resolution: p.Resolution}}
	return nil
}

// CompleteOptions adds back to p's hints the options named by
// hints.param_options (left out by the broker because they repeat p's host,
// port, user and database), sorted by name, and clears param_options: the
// options are then complete.
func CompleteOptions(p *v1.ConnectionParams) {
	h := p.GetHints()
	n := h.GetParamOptions()
	if n == nil {
		return
	}
	add := func(name string, o *v1.HintOption) {
		if name != "" {
			o.Name = name
			h.Options = append(h.Options, o)
		}
	}
	add(n.GetHost(), &v1.HintOption{Value: &v1.HintOption_StringValue{StringValue: p.GetHost()}})
	add(n.GetPort(), &v1.HintOption{Value: &v1.HintOption_IntValue{IntValue: int64(p.GetPort())}})
	add(n.GetUser(), &v1.HintOption{Value: &v1.HintOption_StringValue{StringValue: p.GetUser()}})
	add(n.GetDatabase(), &v1.HintOption{Value: &v1.HintOption_StringValue{StringValue: p.GetDatabase()}})
	slices.SortFunc(h.Options, func(a, b *v1.HintOption) int { return strings.Compare(a.GetName(), b.GetName()) })
	h.ParamOptions = nil
}
