package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/broker/rdshost"
	"github.com/connbroker/connbroker/broker/resolve"
	"github.com/connbroker/connbroker/broker/validate"
)

// diagnosisInput is what diagnose needs about an endpoint, without the
// transcript.
func diagnosisInput(ep *config.Endpoint, cred *credential.Credential) diagnose.Input {
	in := diagnose.Input{Host: ep.Host, Port: ep.Port, IAM: ep.Auth == config.AuthIAM, Region: ep.Region, CustomCA: len(ep.TLS.CAPEM) > 0,
		Plugin: ep.Plugin, TLSRequired: ep.TLS.Mode.Requires()}
	if in.Region == "" {
		if h, ok := rdshost.Parse(ep.Host); ok {
			in.Region = h.Region
		}
	}
	if cred != nil && cred.Kind == credential.KindIAMToken {
		if c, err := diagnose.ParseToken(cred.Secret.Reveal()); err == nil {
			in.Token = &c
		}
	}
	return in
}

// diagnoseLogin replays the login with the handshake prober playing
// go-sql-driver (with the options the validator used) and adds the
// transcript and findings to res; with compare, it also plays every driver
// profile. Without replay (a login that succeeded, and no transcript asked
// for) the findings come from the endpoint and credential alone: a second
// login would only double the validation's time (BENCHMARKS.md).
func (s *Service) diagnoseLogin(ctx context.Context, ep *config.Endpoint, cred credential.Credential, res *validate.Result, compare, replay bool) {
	var login *diagnose.Login
	if st, failed := res.Failed(); failed {
		login = &diagnose.Login{Stage: st.Name, Err: st.Err}
	}
	// What AWS says about the endpoint (cached Describe* answers) and, for
	// IAM, whether the policy allows rds-db:connect.
	awsFacts := s.awsFacts(ctx, ep)
	awsSim := s.awsSimulation(ctx, ep, awsFacts)
	explain := func(in diagnose.Input) {
		in.Login = login
		in.AWS, in.Simulation = awsFacts, awsSim
		res.Findings = diagnose.Diagnose(in)
		if v := diagnose.Verdict(res.Findings); v != "" && !res.OK {
			// One explanation: the verdict is the primary finding.
			res.Reason = v
		}
	}
	tc, err := dbtls.Config(ep.TLS.Mode, ep.TLS.CAPEM, ep.TLS.ServerName)
	if err != nil {
		return // the validator already reported the TLS configuration problem
	}
	allowClear := ep.ClearText()
	target := handshake.Target{Addr: ep.DialAddr(), User: ep.User, Secret: cred.Secret.Reveal(), Database: ep.Database,
		TLS: tc, Profile: handshake.GoSQLDriver(allowClear), RevealWithoutVerifiedTLS: validate.RevealPlugins(ep.Auth, ep.Plugin)}
	if ep.TLS.Mode == config.TLSPreferred {
		target.Profile.InsistsOnTLS = false
	}
	// The probes are logins too: they share the validator's concurrency cap.
	if !replay || ctx.Err() != nil {
		// Not asked for, or the login used up the deadline: a probe now
		// would only time out.
		explain(diagnosisInput(ep, &cred))
		return
	}
	release, err := s.validator.Acquire(ctx)
	if err != nil {
		explain(diagnosisInput(ep, &cred)) // no probe: the login's own error
		return
	}
	defer release()
	probe := &handshake.Probe{}
	tr, perr := probe.Run(ctx, target)
	in := diagnosisInput(ep, &cred)
	in.Transcript, in.Err = tr, perr
	if ep.Diagnostic != nil && tr.Outcome.Server != nil {
		// Evidence for the refusal: does the account exist, with which plugin?
		if secret, err := s.diagnosticSecret(ctx, ep); err == nil {
			plugin, aerr := resolve.AccountPlugin(ctx, ep, secret)
			in.AccountPlugin, in.AccountMissing = plugin, errors.Is(aerr, resolve.ErrNoAccount)
		}
	}
	res.Transcript = tr
	explain(in)
	// Without a greeting every driver fails the same way: no table.
	if compare && tr.Greeting != nil {
		res.Drivers = diagnose.Compare(ctx, probe, target, in, diagnose.DriverCases(hintsInput(ep)))
	}
	s.log.InfoContext(ctx, "diagnosed endpoint", "endpoint", ep.Name, "result", tr.Outcome.Result, "findings", len(res.Findings))
}

// ProbeResult is what a server announces before login, and what its host
// name says.
type ProbeResult struct {
	// Addr is host:port.
	Addr string
	// Host is the host name's classification; HostOK is false for a name
	// that is not an RDS endpoint.
	Host   rdshost.Info
	HostOK bool
	// Transcript is the probe's record; Transcript.Greeting is nil when no
	// greeting arrived.
	Transcript *handshake.Transcript
	// Findings explain a failed probe.
	Findings []diagnose.Finding
}

// ProbeAddr probes addr ("host:port") without credentials: the greeting,
// and the TLS upgrade when tlsCfg is not nil (requireTLS: fail when the
// server does not offer it; otherwise go on without). It never returns an
// error for an unreachable or broken server: the findings say what went
// wrong.
func ProbeAddr(ctx context.Context, p *handshake.Probe, addr string, tlsCfg *tls.Config, requireTLS bool) ProbeResult {
	host, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)
	tr, err := p.Run(ctx, handshake.Target{Addr: addr, TLS: tlsCfg, GreetingOnly: true,
		Profile: handshake.Profile{Name: "probe", InsistsOnTLS: requireTLS}})
	out := ProbeResult{Addr: addr, Transcript: tr}
	out.Host, out.HostOK = rdshost.Parse(host)
	out.Findings = diagnose.Diagnose(diagnose.Input{Transcript: tr, Err: err, Host: host, Port: port, CustomCA: tlsCfg != nil && tlsCfg.RootCAs != nil})
	return out
}

// Probe probes a configured endpoint without credentials, upgrading to TLS
// with the endpoint's settings unless its mode is disabled. It emits
// observe.Probe (observe.Denied when the policy refuses it).
func (s *Service) Probe(ctx context.Context, endpoint string) (ProbeResult, error) {
	res, err := s.probe(ctx, endpoint)
	if err != nil {
		s.failed(ctx, endpoint, err, func(string) observe.Event { return observe.Probe{Endpoint: endpoint, Err: err} })
		return res, err
	}
	s.emit(ctx, observe.Probe{Endpoint: endpoint})
	return res, nil
}

func (s *Service) probe(ctx context.Context, endpoint string) (ProbeResult, error) {
	ep, err := s.endpointFor(ctx, "endpoint", endpoint) // policy applies (authz.go)
	if err != nil {
		return ProbeResult{}, err
	}
	tc, err := dbtls.Config(ep.TLS.Mode, ep.TLS.CAPEM, ep.TLS.ServerName)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("endpoint %s tls config: %w", ep.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Load().Validation.Timeout)
	defer cancel()
	// A probe opens a database connection: it takes a slot of its endpoint
	// and one of validation.max_concurrent, like a login (singleflight.go).
	release, err := s.endpointSlot(ctx, ep)
	if err != nil {
		return ProbeResult{}, err
	}
	defer release()
	releaseGlobal, err := s.validator.Acquire(ctx)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("wait for a free validation slot (validation.max_concurrent): %w", err)
	}
	defer releaseGlobal()
	return ProbeAddr(ctx, &handshake.Probe{}, ep.DialAddr(), tc, ep.TLS.Mode.Requires()), nil
}
