package broker

import (
	"context"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/validate"
)

// predictEnvironment plays each driver installed in the caller's process
// (env) against ep with the same credential and the endpoint's TLS
// settings, as the broker's hints would configure it, and applies the
// environment's rules (missing packages, old versions, environment
// variables). It returns a report even when the server cannot be reached:
// the predictions then carry the failure.
func (s *Service) predictEnvironment(ctx context.Context, ep *config.Endpoint, cred credential.Credential, env diagnose.ClientEnvironment, receivedAt time.Time) *diagnose.EnvironmentReport {
	base := handshake.Target{Addr: ep.DialAddr(), User: ep.User, Secret: cred.Secret.Reveal(), Database: ep.Database,
		RevealWithoutVerifiedTLS: validate.RevealPlugins(ep.Auth, ep.Plugin)} // never further than the validator
	if tc, err := dbtls.Config(ep.TLS.Mode, ep.TLS.CAPEM, ep.TLS.ServerName); err == nil {
		base.TLS = tc
	}
	release, err := s.validator.Acquire(ctx)
	if err != nil {
		rep := diagnose.EnvironmentReport{}
		return &rep
	}
	defer release()
	in := diagnosisInput(ep, &cred)
	rep := diagnose.EnvironmentPredict(ctx, &handshake.Probe{}, base, in, env, hintsInput(ep), receivedAt)
	works := len(rep.Drivers) > 0 && rep.Drivers[0].Works
	s.log.InfoContext(ctx, "predicted client environment", "endpoint", ep.Name, "driver", rep.Driver, "drivers", len(rep.Drivers), "works", works)
	return &rep
}
