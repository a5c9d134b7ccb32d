package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/connbroker/connbroker/broker/observe"
)

// WatchReason says why Watch sent params.
type WatchReason int

// Watch reasons.
const (
	// WatchInitial is the first params of a watch.
	WatchInitial WatchReason = iota + 1
	// WatchRefresh means the previous credential reached its RefreshAfter.
	WatchRefresh
	// WatchRotated means the secret changed before it was due.
	WatchRotated
)

// DefaultWatchPoll is how often Watch re-reads the credential source to
// notice a rotated secret.
const DefaultWatchPoll = 5 * time.Second

// Watch sends fresh params for endpoint at once, again when the credential
// reaches its RefreshAfter, and at once (within poll) when the secret
// behind the endpoint changes. Each round is authorised again, so a reload
// that removes the endpoint or the caller's permission ends the watch with
// that error. Only the params sent are issued credentials (the polls in
// between are not): each emits observe.CredentialIssued before it is sent,
// and is not sent when a subscriber refuses it (that error is returned).
// send must not keep p once it returns: Watch reuses it for a later poll.
// Watch returns ctx.Err() when ctx ends and send's error when sending
// fails; a watch that ends with another error emits observe.Denied or
// observe.IssueFailed.
func (s *Service) Watch(ctx context.Context, endpoint, driver string, poll time.Duration, send func(*Params, WatchReason) error) error {
	if poll <= 0 {
		poll = DefaultWatchPoll
	}
	// p is the last params sent, np the poll's: two buffers, swapped when
	// np is sent (send copies what it needs before it returns).
	var bufs [2]Params
	p, np := &bufs[0], &bufs[1]
	if err := s.paramsInto(ctx, endpoint, driver, p); err != nil {
		return s.watchFailed(ctx, endpoint, err)
	}
	if err := s.watchSend(ctx, p, WatchInitial, send); err != nil {
		return err
	}
	// floor keeps a credential source that keeps failing (a stale token
	// whose RefreshAfter has passed) from being asked in a tight loop.
	floor := min(poll, time.Second)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := poll
		if ra := p.Credential.RefreshAfter; !ra.IsZero() {
			wait = min(wait, time.Until(ra))
		}
		timer.Reset(max(wait, floor))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if err := s.paramsInto(ctx, endpoint, driver, np); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.watchFailed(ctx, endpoint, err)
		}
		if np.Credential.Secret.Reveal() == p.Credential.Secret.Reveal() {
			continue
		}
		reason := WatchRotated
		if ra := p.Credential.RefreshAfter; !ra.IsZero() && !time.Now().Before(ra) {
			reason = WatchRefresh
		}
		if err := s.watchSend(ctx, np, reason, send); err != nil {
			return err
		}
		p, np = np, p
	}
}

// watchSend emits p as issued and sends it; a send that fails emits
// observe.IssueFailed.
func (s *Service) watchSend(ctx context.Context, p *Params, reason WatchReason, send func(*Params, WatchReason) error) error {
	if err := s.issued(ctx, p, true); err != nil {
		return err
	}
	if err := send(p, reason); err != nil {
		s.emit(ctx, observe.IssueFailed{Endpoint: p.Endpoint, DBUser: p.User, Err: fmt.Errorf("send: %w", err)})
		return err
	}
	return nil
}

// watchFailed emits the event of a watch on endpoint ended by err and
// returns err.
func (s *Service) watchFailed(ctx context.Context, endpoint string, err error) error {
	s.failed(ctx, endpoint, err, func(user string) observe.Event {
		return observe.IssueFailed{Endpoint: endpoint, DBUser: user, Err: err}
	})
	return err
}
