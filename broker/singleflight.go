package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/validate"
)

// validateShared runs validateOne once for identical concurrent requests
// (same endpoint configuration, timeout and driver comparison), so a deploy of many pods that
// all validate at start-up makes one login, not one per pod. The shared
// login runs on a context that is not cancelled when one waiting caller
// gives up; each caller still stops waiting at its own deadline. The cap on
// concurrent logins (validation.max_concurrent) applies to the shared
// logins.
func (s *Service) validateShared(ctx context.Context, ep *config.Endpoint, timeout time.Duration, compare bool) validate.Result {
	// The endpoint pointer changes on every config reload, so a login
	// started under an old configuration is never shared with a request
	// made under a new one.
	key := fmt.Sprintf("%p|%s|%s|%t", ep, ep.Name, timeout, compare)
	ch := s.inflight.DoChan(key, func() (any, error) {
		return s.validateOne(context.WithoutCancel(ctx), ep, timeout, compare, nil, time.Time{}), nil
	})
	select {
	case r := <-ch:
		return r.Val.(validate.Result)
	case <-ctx.Done():
		return validate.Result{Endpoint: ep.Name, Reason: "validation was abandoned: " + ctx.Err().Error()}
	}
}
