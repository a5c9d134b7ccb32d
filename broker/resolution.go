package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/resolve"
)

// resolutionTTL is how long an auth: auto resolution is reused.
const resolutionTTL = 10 * time.Minute

type cachedResolution struct {
	src *config.Endpoint // the configured endpoint it was resolved for (current config only)
	fp  string           // fingerprint of src's value
	ep  *config.Endpoint // effective endpoint: Auth iam or password
	res Resolution
	at  time.Time
}

// resolutions caches auth: auto resolutions by endpoint name and the
// endpoint's value (not its pointer): SetConfig calls reload, which drops
// the entries of endpoints that are gone or changed and re-points the
// others at the new config, so no old config is kept alive by the cache.
type resolutions struct {
	mu sync.Mutex
	m  map[string]cachedResolution // by endpoint name
}

// fingerprint is the endpoint's configured value as a comparable string
// (held in memory only: it may contain a static password's source name, never
// a secret value, and is never logged).
func fingerprint(ep *config.Endpoint) string {
	b, err := json.Marshal(ep)
	if err != nil { // cannot happen for a config struct; never share then
		return fmt.Sprintf("unmarshalable %p", ep)
	}
	return string(b)
}

// get returns the cached resolution of ep, if it is for ep's current value.
func (r *resolutions) get(ep *config.Endpoint) (cachedResolution, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[ep.Name]
	if !ok || (c.src != ep && c.fp != fingerprint(ep)) {
		return cachedResolution{}, false
	}
	return c, true
}

func (r *resolutions) put(src *config.Endpoint, c cachedResolution) {
	c.src, c.fp = src, fingerprint(src)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]cachedResolution{}
	}
	r.m[src.Name] = c
}

// reload keeps the resolutions of endpoints whose value is unchanged in
// cfg, now pointing at cfg's endpoints, and drops every other one.
func (r *resolutions) reload(cfg *config.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, c := range r.m {
		ep, ok := cfg.Endpoints[name]
		if !ok || ep.Auth != config.AuthAuto || fingerprint(ep) != c.fp {
			delete(r.m, name)
			continue
		}
		eff := *ep
		eff.Auth, eff.Plugin = c.ep.Auth, c.ep.Plugin
		c.src, c.ep = ep, &eff
		r.m[name] = c
	}
}

// size returns the number of cached resolutions.
func (r *resolutions) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// effective returns the endpoint as the broker uses it (auth: auto
// replaced by the resolved method and plugin) and its resolution. Explicit
// methods resolve without I/O; auth: auto reads the greeting and, with a
// diagnostic account, the account's plugin, once per resolutionTTL.
// Errors match resolve.ErrUndecided (do not retry) or come from the
// diagnostic account's password source.
//
// The resolution is nil for explicit methods: their resolution depends on
// the config alone and is cached with the hints (view).
func (s *Service) effective(ctx context.Context, ep *config.Endpoint) (*config.Endpoint, *Resolution, error) {
	if ep.Auth != config.AuthAuto {
		return ep, nil, nil
	}
	if c, ok := s.res.get(ep); ok && time.Since(c.at) < resolutionTTL {
		return c.ep, &c.res, nil
	}
	var diagSecret string
	if ep.Diagnostic != nil {
		var err error
		if diagSecret, err = s.diagnosticSecret(ctx, ep); err != nil {
			return nil, nil, err
		}
	}
	facts := resolve.Gather(ctx, ep, diagSecret)
	facts.AWS = s.awsFacts(ctx, ep)
	r, err := resolve.Decide(ep, facts)
	if err != nil {
		return nil, nil, err
	}
	eff := *ep
	eff.Auth, eff.Plugin = r.Method, r.Plugin
	if s.cfg.Load().Endpoints[ep.Name] == ep { // not a request that raced a reload
		s.res.put(ep, cachedResolution{ep: &eff, res: r, at: time.Now()})
	}
	s.log.InfoContext(ctx, "resolved auth", "endpoint", ep.Name, "method", r.Method, "plugin", r.Plugin, "evidence", len(r.Evidence))
	return &eff, &r, nil
}

// diagnosticSecret reads the password of ep's diagnostic account.
func (s *Service) diagnosticSecret(ctx context.Context, ep *config.Endpoint) (string, error) {
	d := ep.Diagnostic
	cred, err := s.issuer.Issue(ctx, &config.Endpoint{Name: ep.Name + "/diagnostic", Host: ep.Host, Port: ep.Port,
		User: d.User, Auth: config.AuthPassword, Password: d.Password})
	if err != nil {
		return "", fmt.Errorf("diagnostic account password: %w", err)
	}
	return cred.Secret.Reveal(), nil
}
