package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/validate"
)

// validateShared runs validateOne once for identical concurrent requests
// (same endpoint configuration and driver comparison), so a deploy of many
// pods that all validate at start-up makes one login, not one per pod.
//
// The key leaves out the timeout: callers asking with different timeouts
// share the login, which runs with the timeout of the caller that started
// it; each caller still stops waiting at its own deadline. The login
// resumes TLS sessions from the starting request's sessions only (the key
// names the endpoint's TLS settings, so a joining caller gets a login
// verified under the same ones). The shared login is cancelled as soon as
// every caller waiting for it has gone, so abandoned validations do not
// pile up.
func (s *Service) validateShared(ctx context.Context, ep *config.Endpoint, timeout time.Duration, compare bool, sessions *dbtls.Sessions) outcome {
	key := flightKey(ep, compare)
	r, ok, first := s.inflight.do(ctx, key, func(sctx context.Context) outcome {
		return s.validateOne(sctx, ep, timeout, compare, nil, time.Time{}, sessions)
	})
	if !ok {
		return outcome{res: validate.Result{Endpoint: ep.Name, Reason: "validation was abandoned: " + ctx.Err().Error()}, finding: "abandoned", shared: true}
	}
	r.shared = !first
	return r
}

// flightKey names a validation by the endpoint's value (name and
// fingerprint), not its pointer: a login started under an old
// configuration is shared with a request made under a new one only when
// the endpoint is unchanged, and no key outlives the login.
func flightKey(ep *config.Endpoint, compare bool) string {
	return ep.Name + "|" + fingerprint(ep) + "|" + strconv.FormatBool(compare)
}

// flights runs one function per key at a time for every caller asking
// with that key, and cancels it when no caller is waiting any more. The
// zero value is ready to use.
type flights struct {
	mu    sync.Mutex
	calls map[string]*flight
}

type flight struct {
	done    chan struct{}
	res     outcome
	refs    int
	claimed bool // a caller has received res (it reports the login)
	cancel  context.CancelFunc
}

// do returns fn's result for key, starting fn unless a call for key is
// running. ok is false when ctx ended first; the call is then cancelled if
// no other caller waits for it. first is true for the one caller that
// receives a run's result first (it reports the login; the others share
// it). fn runs on a context that keeps ctx's values but not its
// cancellation.
func (g *flights) do(ctx context.Context, key string, fn func(context.Context) outcome) (res outcome, ok, first bool) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flight{}
	}
	f, running := g.calls[key]
	if !running {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = f
		go func() {
			defer cancel()
			f.res = fn(fctx)
			g.mu.Lock()
			if g.calls[key] == f {
				delete(g.calls, key)
			}
			g.mu.Unlock()
			close(f.done)
		}()
	}
	f.refs++
	g.mu.Unlock()
	select {
	case <-f.done:
		g.mu.Lock()
		f.refs--
		first = !f.claimed
		f.claimed = true
		g.mu.Unlock()
		return f.res, true, first
	case <-ctx.Done():
		g.mu.Lock()
		if f.refs--; f.refs == 0 {
			f.cancel()
			if g.calls[key] == f { // a new caller starts afresh
				delete(g.calls, key)
			}
		}
		g.mu.Unlock()
		return outcome{}, false, false
	}
}

// endpointSlots caps the logins and probes running at once against one
// endpoint (limits.endpoint_concurrent), so calls to one slow or
// blackholed endpoint cannot hold every slot of validation.max_concurrent.
// The zero value is ready to use.
type endpointSlots struct {
	mu  sync.Mutex
	sem map[string]*semaphore.Weighted
}

// maxEndpointSlots bounds the map; past it, it starts afresh (running
// calls keep their semaphores).
const maxEndpointSlots = 1 << 16

// acquire waits for a slot of endpoint name (n of them per endpoint) and
// returns its release, or ctx's error.
func (e *endpointSlots) acquire(ctx context.Context, name string, n int) (release func(), err error) {
	n = max(n, 1)
	key := fmt.Sprintf("%s|%d", name, n) // a reload that changes n starts new semaphores
	e.mu.Lock()
	if e.sem == nil || len(e.sem) >= maxEndpointSlots {
		e.sem = map[string]*semaphore.Weighted{}
	}
	sem, ok := e.sem[key]
	if !ok {
		sem = semaphore.NewWeighted(int64(n))
		e.sem[key] = sem
	}
	e.mu.Unlock()
	if err := sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("wait for a free slot of endpoint %s (limits.endpoint_concurrent): %w", name, err)
	}
	return func() { sem.Release(1) }, nil
}

// endpointSlot takes a slot of ep from the current limits.
func (s *Service) endpointSlot(ctx context.Context, ep *config.Endpoint) (release func(), err error) {
	return s.slots.acquire(ctx, ep.Name, s.cfg.Load().Limits.EndpointConcurrent)
}
