package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
)

// ErrPermissionDenied means the caller may not get an endpoint. Do not
// retry: the policy must change.
var ErrPermissionDenied = errors.New("permission denied")

// DeniedError names the endpoint a caller was refused. It never carries
// anything the caller would have got.
type DeniedError struct {
	// Endpoint is the requested endpoint name.
	Endpoint string
	// Caller is the caller identity, empty when there was none.
	Caller string
}

func (e *DeniedError) Error() string {
	if e.Caller == "" {
		return fmt.Sprintf("an unidentified caller may not get endpoint %q", e.Endpoint)
	}
	return fmt.Sprintf("caller %q may not get endpoint %q", e.Caller, e.Endpoint)
}

// Unwrap returns ErrPermissionDenied.
func (e *DeniedError) Unwrap() error { return ErrPermissionDenied }

// allowed reports whether the caller in ctx may get ep under cfg. Without
// caller identities in use (no tls.client_ca, no unix listener: connbrokerd
// serves that only with --dev, on loopback) everything is allowed: the
// listener is then the only gate.
//
// An unknown endpoint is "allowed" (so the caller hears NOT_FOUND) only
// when the caller may know whether that name exists (policy.MayKnow);
// every other caller gets PERMISSION_DENIED for unknown and denied names
// alike, so names cannot be enumerated.
func allowed(ctx context.Context, cfg *config.Config, name, user string, known bool) bool {
	if !cfg.IdentitiesInUse() {
		return true
	}
	id, ok := caller.FromContext(ctx)
	if !ok {
		return false
	}
	if !known {
		return cfg.PolicyOf().MayKnow(id, name)
	}
	return cfg.PolicyOf().Allows(id, name, user)
}

// authorize returns a *DeniedError when the caller in ctx may not get
// the endpoint name (nil ep when it is not configured).
func authorize(ctx context.Context, cfg *config.Config, name string, ep *config.Endpoint) error {
	user, known := "", ep != nil
	if known {
		user = ep.User
	}
	if allowed(ctx, cfg, name, user, known) {
		return nil
	}
	id, _ := caller.FromContext(ctx)
	return &DeniedError{Endpoint: name, Caller: id.Name}
}

// Authorized reports whether the caller in ctx may get ep under the
// current configuration.
func (s *Service) Authorized(ctx context.Context, ep *config.Endpoint) bool {
	return authorize(ctx, s.cfg.Load(), ep.Name, ep) == nil
}

// endpointFor looks up an endpoint for the caller in ctx: a
// *DeniedError when the policy refuses it, a *NotFoundError when it is not
// configured (and the caller could have been allowed it).
func (s *Service) endpointFor(ctx context.Context, field, name string) (*config.Endpoint, error) {
	_, ep, err := s.endpointIn(ctx, field, name)
	return ep, err
}

// endpointIn is endpointFor that also returns the config snapshot the
// endpoint belongs to.
func (s *Service) endpointIn(ctx context.Context, field, name string) (*config.Config, *config.Endpoint, error) {
	cfg := s.cfg.Load()
	ep := cfg.Endpoints[name]
	if ep == nil { // a configured name is valid (config.Validate): check only the others
		if err := checkName(field, name); err != nil {
			return nil, nil, err
		}
	}
	if err := authorize(ctx, cfg, name, ep); err != nil {
		return nil, nil, err
	}
	if ep == nil {
		return nil, nil, &NotFoundError{Endpoint: name}
	}
	return cfg, ep, nil
}

// VisibleEndpoints returns the endpoints the caller in ctx may get, sorted
// by name.
func (s *Service) VisibleEndpoints(ctx context.Context) []*config.Endpoint {
	var out []*config.Endpoint
	for _, e := range s.Endpoints() {
		if s.Authorized(ctx, e) {
			out = append(out, e)
		}
	}
	return out
}

// deniedAll is the error for "validate all" by a caller who may get no
// endpoint at all.
func deniedAll(ctx context.Context) error {
	id, _ := caller.FromContext(ctx)
	return &DeniedError{Endpoint: "*", Caller: id.Name}
}
