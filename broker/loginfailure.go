package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/observe"
)

// ReportInterval is the least time between two re-reads of one endpoint's
// credential source caused by ReportLoginFailure; reports in between are
// answered without a re-read (the source is as fresh as it gets).
const ReportInterval = 2 * time.Second

// LoginFailureReport is what ReportLoginFailure did.
type LoginFailureReport struct {
	// Endpoint is the reported endpoint; DBUser its account.
	Endpoint, DBUser string
	// Reread is true when the source was read again for this report.
	Reread bool
	// Changed is true when the re-read found a different secret.
	Changed bool
	// Pending is true when the current value was refused and the value of
	// a rotation in progress (Secrets Manager AWSPENDING) logged in: it is
	// what the broker hands out now.
	Pending bool
}

// reportGate limits re-reads per endpoint name. The zero value is ready.
type reportGate struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// allow reports whether a re-read of name may run now, and records it.
func (g *reportGate) allow(name string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	for n, t := range g.last { // bounded by the endpoints reported within ReportInterval
		if now.Sub(t) >= ReportInterval {
			delete(g.last, n)
		}
	}
	if _, ok := g.last[name]; ok {
		return false
	}
	g.last[name] = now
	return true
}

// ReportLoginFailure handles a client's report that a login with params
// the broker issued for endpoint was refused with mysqlErrno (1045 or
// 1698): for a password endpoint the credential cached for it is dropped
// and its source read again at once (at most once per ReportInterval per
// endpoint), so the caller's next Params has the current secret; an IAM
// endpoint has nothing to re-read (Reread false). The caller must be
// allowed the endpoint. Errors: *ArgError (bad name or errno),
// *NotFoundError, *DeniedError, and the credential source's error (retry
// later) when the re-read fails. It emits observe.LoginFailureReported
// (observe.Denied when the policy refuses it).
func (s *Service) ReportLoginFailure(ctx context.Context, endpoint, driver string, mysqlErrno uint32) (LoginFailureReport, error) {
	r, err := s.reportLoginFailure(ctx, endpoint, driver, mysqlErrno)
	ev := func(user string) observe.Event {
		return observe.LoginFailureReported{Endpoint: endpoint, DBUser: user, Driver: driver, Errno: mysqlErrno, Reread: r.Reread, Changed: r.Changed, Err: err}
	}
	if err != nil {
		s.failed(ctx, endpoint, err, ev)
	} else {
		s.emit(ctx, ev(s.dbUser(endpoint)))
	}
	return r, err
}

func (s *Service) reportLoginFailure(ctx context.Context, endpoint, driver string, mysqlErrno uint32) (LoginFailureReport, error) {
	if mysqlErrno != 1045 && mysqlErrno != 1698 {
		return LoginFailureReport{}, &ArgError{Field: "mysql_errno", Problem: fmt.Sprintf("%d is not an access-denied error; report 1045 or 1698", mysqlErrno)}
	}
	ep, err := s.endpointFor(ctx, "endpoint", endpoint)
	if err != nil {
		return LoginFailureReport{}, err
	}
	out := LoginFailureReport{Endpoint: ep.Name, DBUser: ep.User}
	eff, _, err := s.effective(ctx, ep)
	if err != nil {
		return out, err
	}
	if eff.Auth != config.AuthPassword { // an IAM token is signed here, there is no source to re-read
		return out, nil
	}
	if !s.reports.allow(ep.Name, time.Now()) {
		return out, nil
	}
	inv, ok := s.issuer.(interface{ Invalidate(*config.Endpoint) })
	if !ok {
		return out, nil
	}
	before, berr := s.issuer.Issue(ctx, eff) // the cached secret, if any
	inv.Invalidate(eff)
	after, err := s.issuer.Issue(ctx, eff)
	if err != nil {
		return out, fmt.Errorf("re-read the credential of endpoint %q after a reported %d: %w", ep.Name, mysqlErrno, err)
	}
	out.Reread = true
	out.Changed = berr != nil || before.Secret.Reveal() != after.Secret.Reveal()
	if !out.Changed {
		// AWSCURRENT unchanged: a rotation may have set the database but
		// not yet moved the stage. Try AWSPENDING with a real login.
		lctx, cancel := context.WithTimeout(ctx, s.cfg.Load().Validation.Timeout)
		_, _, out.Pending = s.bridgePending(lctx, eff, targetFor(eff, after))
		cancel()
		out.Changed = out.Pending
	}
	s.log.InfoContext(ctx, "login failure reported; credential re-read", "endpoint", ep.Name, "driver", driver, "mysql_errno", mysqlErrno, "changed", out.Changed, "pending", out.Pending)
	return out, nil
}
