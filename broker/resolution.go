package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/resolve"
)

// resolutionTTL is how long an auth: auto resolution is reused.
const resolutionTTL = 10 * time.Minute

type cachedResolution struct {
	ep  *config.Endpoint // effective endpoint: Auth iam or password
	res Resolution
	at  time.Time
}

type resolutions struct {
	mu sync.Mutex
	m  map[*config.Endpoint]cachedResolution
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
	s.res.mu.Lock()
	c, ok := s.res.m[ep]
	s.res.mu.Unlock()
	if ok && time.Since(c.at) < resolutionTTL {
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
	out := toResolution(r)
	s.res.mu.Lock()
	if s.res.m == nil {
		s.res.m = map[*config.Endpoint]cachedResolution{}
	}
	s.res.m[ep] = cachedResolution{ep: &eff, res: out, at: time.Now()}
	s.res.mu.Unlock()
	s.log.InfoContext(ctx, "resolved auth", "endpoint", ep.Name, "method", r.Method, "plugin", r.Plugin, "evidence", len(r.Evidence))
	return &eff, &out, nil
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

func toResolution(r resolve.Result) Resolution {
	out := Resolution{Method: r.Method, Plugin: r.Plugin, TLSRequired: r.TLSRequired}
	for _, e := range r.Evidence {
		out.Evidence = append(out.Evidence, Evidence{Source: e.Source, Detail: e.Detail})
	}
	return out
}
