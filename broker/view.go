package broker

import (
	"sync"
	"weak"

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

// views caches views for one config; SetConfig drops it. It names its
// config by a weak pointer, so it never keeps an old config alive.
type views struct {
	cfg weak.Pointer[config.Config]
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

// view returns the view of ep, an endpoint (or its effective form) of
// config cfg, for driver r (nil: no hints). It is cached while cfg is the
// current config; an ep of a config replaced since the request began (a
// reload raced it) is rendered afresh and not cached, so the new config's
// cache never holds an old endpoint's hints.
func (s *Service) view(cfg *config.Config, ep *config.Endpoint, r *driver.Descriptor) *view {
	k := viewKey{name: ep.Name, plugin: ep.Plugin, auth: ep.Auth}
	if r != nil {
		k.driver = r.Name
	}
	vs := s.views.Load()
	if vs == nil || vs.cfg.Value() != cfg {
		if cfg != s.cfg.Load() {
			return renderView(ep, r)
		}
		nv := &views{cfg: weak.Make(cfg)}
		if !s.views.CompareAndSwap(vs, nv) {
			return renderView(ep, r) // another call or SetConfig won; next time
		}
		vs = nv
	}
	if v, ok := vs.m.Load(k); ok {
		return v.(*view)
	}
	got, _ := vs.m.LoadOrStore(k, renderView(ep, r))
	return got.(*view)
}

// renderView computes the view of ep for driver r.
func renderView(ep *config.Endpoint, r *driver.Descriptor) *view {
	v := &view{res: Resolve(ep)}
	if r != nil {
		h := r.Render(hintsInput(ep))
		v.hints = &h
	}
	return v
}
