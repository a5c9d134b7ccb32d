package broker

import (
	"sync"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/hints"
)

// view is what Params derives from an endpoint's config alone: the
// resolution and the rendered hints. Both are computed once per endpoint
// and driver and shared read-only by every Params call until the config is
// replaced (the cache-hit path then costs a map lookup, not a render: see
// BENCHMARKS.md).
type view struct {
	res   Resolution
	hints *hints.Hints
}

// viewKey names a view by value: within one config an endpoint is its
// name, and an auth: auto endpoint's effective form differs only in the
// resolved method and plugin (a pointer key would grow by one entry every
// time the resolution is renewed).
type viewKey struct {
	name, plugin string
	auth         config.AuthMethod
	driver       string
}

// views caches views for one config; SetConfig starts a new one.
type views struct {
	cfg *config.Config
	m   sync.Map // viewKey -> *view
}

// hintsInput is what the driver renderers need to know about ep.
func hintsInput(ep *config.Endpoint) hints.Input {
	return hints.Input{
		Host: ep.Host, Port: ep.Port, Dial: ep.Dial, User: ep.User, Database: ep.Database,
		Plugin: ep.Plugin, IAM: ep.Auth == config.AuthIAM,
		TLSMode: ep.TLS.Mode, HasCA: len(ep.TLS.CAPEM) > 0, ServerName: ep.TLS.ServerName,
	}
}

// view returns the cached view of ep for driver r (nil: no hints).
func (s *Service) view(ep *config.Endpoint, r *driver.Descriptor) *view {
	vs := s.views.Load()
	if vs == nil || vs.cfg != s.cfg.Load() {
		vs = &views{cfg: s.cfg.Load()}
		s.views.Store(vs)
	}
	k := viewKey{name: ep.Name, plugin: ep.Plugin, auth: ep.Auth}
	if r != nil {
		k.driver = r.Name
	}
	if v, ok := vs.m.Load(k); ok {
		return v.(*view)
	}
	v := &view{res: Resolve(ep)}
	if r != nil {
		h := r.Render(hintsInput(ep))
		v.hints = &h
	}
	got, _ := vs.m.LoadOrStore(k, v)
	return got.(*view)
}
