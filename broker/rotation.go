package broker

import (
	"context"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/validate"
)

// afterAccessDenied handles a login refused with 1045, which may be a
// rotation race: the cached secret is dropped and read again at once; when
// the source now holds a different secret, the login is retried once with
// it. The retry's result replaces the first, with a stage recording the
// re-read.
func (s *Service) afterAccessDenied(ctx context.Context, ep *config.Endpoint, t validate.Target, first validate.Result) validate.Result {
	inv, ok := s.issuer.(interface{ Invalidate(*config.Endpoint) })
	if !ok {
		return first
	}
	inv.Invalidate(ep)
	start := time.Now()
	cred, err := s.issuer.Issue(ctx, ep)
	if err != nil || cred.Secret.Reveal() == t.Secret.Reveal() {
		return first
	}
	s.log.InfoContext(ctx, "secret changed after access denied (rotation); retrying the login once", "endpoint", ep.Name)
	t.Secret = cred.Secret
	retry := s.validator.Validate(ctx, t)
	stage := validate.Stage{Name: "credential", OK: true, Duration: time.Since(start), Error: "re-read after 1045: the secret had rotated"}
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
