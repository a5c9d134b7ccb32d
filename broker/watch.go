package broker

import (
	"context"
	"time"
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
// that error. Only the params sent count as issued credentials (the polls
// in between do not). Watch returns ctx.Err() when ctx ends and send's error when
// sending fails.
func (s *Service) Watch(ctx context.Context, endpoint, driver string, poll time.Duration, send func(*Params, WatchReason) error) error {
	if poll <= 0 {
		poll = DefaultWatchPoll
	}
	p, err := s.params(ctx, endpoint, driver)
	if err != nil {
		return err
	}
	if err := send(p, WatchInitial); err != nil {
		return err
	}
	s.rec.CredentialIssued(p.Endpoint, p.Credential.Kind.String())
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
		np, err := s.params(ctx, endpoint, driver)
		if err != nil {
			return err
		}
		if np.Credential.Secret.Reveal() == p.Credential.Secret.Reveal() {
			continue
		}
		reason := WatchRotated
		if ra := p.Credential.RefreshAfter; !ra.IsZero() && !time.Now().Before(ra) {
			reason = WatchRefresh
		}
		if err := send(np, reason); err != nil {
			return err
		}
		s.rec.CredentialIssued(np.Endpoint, np.Credential.Kind.String())
		p = np
	}
}
