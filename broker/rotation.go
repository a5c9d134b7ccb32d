package broker

import (
	"context"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/validate"
)

// afterAccessDenied handles a login refused with 1045, which may be a
// rotation race: the cached secret is dropped and read again at once; when
// the source now holds a different secret, the login is retried once with
// it; when that is refused too or the value is unchanged, a rotation in
// progress is bridged (bridgePending). The retry's result replaces the
// first, with a stage recording the re-read.
func (s *Service) afterAccessDenied(ctx context.Context, ep *config.Endpoint, t validate.Target, first validate.Result) validate.Result {
	inv, ok := s.issuer.(interface{ Invalidate(*config.Endpoint) })
	if !ok {
		return first
	}
	inv.Invalidate(ep)
	start := time.Now()
	cred, err := s.issuer.Issue(ctx, ep)
	if err != nil {
		return first
	}
	retry, tried := first, false
	stage := validate.Stage{Name: "credential", OK: true}
	if cred.Secret.Reveal() != t.Secret.Reveal() {
		s.log.InfoContext(ctx, "secret changed after access denied (rotation); retrying the login once", "endpoint", ep.Name)
		changed := t
		changed.Secret = cred.Secret
		retry, tried = s.validator.Validate(ctx, changed), true
		stage.Error = "re-read after 1045: the secret had rotated"
	}
	if !retry.OK {
		// Unchanged, or changed and refused too: a rotation may be between
		// setting the database and moving AWSCURRENT.
		if _, res, ok := s.bridgePending(ctx, ep, t); ok {
			retry, tried = res, true
			stage.Error = "re-read after 1045: AWSCURRENT refused, AWSPENDING logs in (rotation in progress)"
		}
	}
	if !tried {
		return first
	}
	stage.Duration = time.Since(start)
	retry.Stages = append(append(first.Stages, stage), retry.Stages...)
	retry.Method, retry.Plugin, retry.Evidence, retry.Environment = first.Method, first.Plugin, first.Evidence, first.Environment
	if !retry.OK {
		// Refused again: the first login's diagnosis still explains it, and
		// the verdict stays its primary finding.
		retry.Transcript, retry.Findings, retry.Drivers = first.Transcript, first.Findings, first.Drivers
		if v := diagnose.Verdict(first.Findings); v != "" {
			retry.Reason = v
		}
	}
	return retry
}

// bridgePending handles a refused login whose source still holds the same
// value: when the endpoint's secret has a rotation in progress
// (AWSPENDING), that value is tried with a real login to t's server (the
// validator's guard applies: it is sent only where any secret may be), and
// only when it logs in is it adopted, so that Params hands it out until
// AWSCURRENT moves. ok is false when there is no rotation in progress or
// the pending value is refused too.
func (s *Service) bridgePending(ctx context.Context, ep *config.Endpoint, t validate.Target) (credential.Credential, validate.Result, bool) {
	pi, isPending := s.issuer.(credential.PendingIssuer)
	if !isPending {
		return credential.Credential{}, validate.Result{}, false
	}
	pending, ok, err := pi.Pending(ctx, ep)
	if err != nil {
		s.log.WarnContext(ctx, "could not read AWSPENDING after access denied", "endpoint", ep.Name, "err", err)
		return credential.Credential{}, validate.Result{}, false
	}
	if !ok || pending.Secret.Reveal() == t.Secret.Reveal() {
		return credential.Credential{}, validate.Result{}, false
	}
	t.Secret = pending.Secret
	res := s.validator.Validate(ctx, t)
	if !res.OK {
		s.log.InfoContext(ctx, "AWSPENDING refused too; keeping AWSCURRENT", "endpoint", ep.Name)
		return credential.Credential{}, res, false
	}
	pi.Adopt(ep, pending)
	s.log.InfoContext(ctx, "rotation in progress: AWSPENDING logs in, handing it out until AWSCURRENT moves", "endpoint", ep.Name)
	return pending, res, true
}
