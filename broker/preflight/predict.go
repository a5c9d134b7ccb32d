package preflight

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	"github.com/connbroker/connbroker/broker/preflight/sim"
)

// App is one application environment the inventory saw on an endpoint.
type App struct {
	// Caller is the identity that asked for the endpoint's parameters.
	Caller string
	// Env is the application's environment, as its helper reported it.
	Env diagnose.ClientEnvironment
	// LastSeen is when it last asked.
	LastSeen time.Time
	// Count is how many reports the inventory merged into this record.
	Count int64
}

// Inventory lists the applications seen on an endpoint. complete is false
// when the store dropped records (retention, size bound) or is full: the
// preflight then says the inventory is incomplete and never gives an
// all-clear. Errors are the store's; the caller may retry.
type Inventory interface {
	Apps(ctx context.Context, endpoint string) (apps []App, complete bool, err error)
}

// Static is an Inventory with a fixed list (tests, and apps given by hand).
type Static struct {
	// List holds the apps of every endpoint, by endpoint name.
	List map[string][]App
	// Incomplete reports the inventory as incomplete.
	Incomplete bool
}

// Apps returns s.List[endpoint].
func (s Static) Apps(_ context.Context, endpoint string) ([]App, bool, error) {
	return s.List[endpoint], !s.Incomplete, nil
}

// Endpoint is the endpoint as the broker has it now.
type Endpoint struct {
	// Name is the endpoint's name.
	Name string
	// Hints is what the broker renders drivers' hints from.
	Hints hints.Input
	// Diagnose is what broker/diagnose reads about the endpoint (host,
	// port, IAM, plugin, TLS required).
	Diagnose diagnose.Input
	// CAPEM is the CA bundle the broker sends to applications (empty: they
	// verify with their system roots).
	CAPEM []byte
}

// Outcome is how an application fares.
type Outcome string

// Outcomes.
const (
	// OutcomeWorks: every login works.
	OutcomeWorks Outcome = "works"
	// OutcomeBreaks: logins fail.
	OutcomeBreaks Outcome = "breaks"
	// OutcomeWarmCacheOnly: logins work only while the server's
	// caching_sha2_password cache holds the account (fast auth); the first
	// login after a server restart, FLUSH PRIVILEGES or a password change
	// (full authentication) fails.
	OutcomeWarmCacheOnly Outcome = "works-while-cache-warm"
)

// Status says how far a report can be trusted.
type Status string

// Statuses.
const (
	// StatusOK: the inventory is complete and has applications.
	StatusOK Status = "ok"
	// StatusNoAppsSeen: no application has asked for this endpoint: not
	// "nothing breaks", nobody is known.
	StatusNoAppsSeen Status = "no-apps-seen"
	// StatusInventoryIncomplete: the store dropped records or is full; the
	// apps listed are played, others may exist.
	StatusInventoryIncomplete Status = "inventory-incomplete"
)

// AppResult is one application's prediction.
type AppResult struct {
	// App is the inventory record.
	App App
	// Driver is the application's driver (canonical name) and Version its
	// version; Label is how it is set up, e.g. "without cryptography".
	Driver, Version, Label string
	// Before and After are the outcomes now and after the change.
	Before, After Outcome
	// Finding explains After (or, for works-while-cache-warm, the full
	// authentication that fails); nil when After is works.
	Finding *diagnose.Finding
	// BeforeFinding explains Before when it is not works.
	BeforeFinding *diagnose.Finding
}

// Changed reports whether the change alters this application's outcome.
func (r AppResult) Changed() bool { return r.Before != r.After }

// Group is the applications of one caller.
type Group struct {
	// Caller is the identity.
	Caller string
	// Apps are its environments, in inventory order.
	Apps []AppResult
}

// Report is a preflight's answer.
type Report struct {
	// Endpoint is the endpoint's name.
	Endpoint string
	// Changes are the changes played, together.
	Changes []Change
	// Status says whether the inventory backs the answer.
	Status Status
	// Groups are the results by caller, sorted by caller.
	Groups []Group
	// AnyBreaks is true when any application's After is not works
	// (works-while-cache-warm counts: it breaks at the next restart).
	AnyBreaks bool
	// Assumptions are what the prediction had to assume about the server.
	Assumptions []string
}

// AllClear reports whether the report says nothing breaks: only with
// StatusOK.
func (r *Report) AllClear() bool { return r.Status == StatusOK && !r.AnyBreaks }

// ErrNoInventory is returned by Predict without an inventory. Do not retry.
var ErrNoInventory = errors.New("inventory is off")

// state is the endpoint and its server, now or after the changes.
type state struct {
	hints         hints.Input
	diag          diagnose.Input
	defaultPlugin string // what the greeting announces
	accountPlugin string
	iam           bool
	requireTLS    bool
	proxyTLS      bool
	trustsCA      bool // the applications' CA bundle verifies the server
}

// Predict plays every application the inventory has seen on ep against the
// endpoint as it is and as it would be after changes (all of them
// together). Applications' drivers are mapped to descriptors and facts as
// the doctor does (diagnose.EnvironmentCases), their hints rendered for the
// state, and the handshake played by the prober against an in-process
// server set up as the state says. The error is the inventory's or the
// simulation's (it cannot listen); a report with StatusNoAppsSeen or
// StatusInventoryIncomplete is not an error.
func Predict(ctx context.Context, ep Endpoint, inv Inventory, changes []Change) (*Report, error) {
	if inv == nil {
		return nil, ErrNoInventory
	}
	apps, complete, err := inv.Apps(ctx, ep.Name)
	if err != nil {
		return nil, fmt.Errorf("read inventory of %s: %w", ep.Name, err)
	}
	rep := &Report{Endpoint: ep.Name, Changes: changes, Status: StatusOK}
	switch {
	case !complete:
		rep.Status = StatusInventoryIncomplete
	case len(apps) == 0:
		rep.Status = StatusNoAppsSeen
	}
	before := current(ep, &rep.Assumptions)
	after := before.apply(ep, changes, &rep.Assumptions)
	if len(apps) == 0 {
		return rep, nil
	}
	pb, err := startSim(ctx, ep, before)
	if err != nil {
		return nil, err
	}
	defer pb.close()
	pa, err := startSim(ctx, ep, after)
	if err != nil {
		return nil, err
	}
	defer pa.close()
	byCaller := map[string]int{}
	// Many apps share an environment: each distinct one is played once.
	memo := map[string]AppResult{}
	for _, a := range apps {
		key := envKey(a.Env)
		r, ok := memo[key]
		if !ok {
			r.Before, r.BeforeFinding, _, _, _ = pb.play(ctx, a.Env)
			r.After, r.Finding, r.Driver, r.Version, r.Label = pa.play(ctx, upgraded(a.Env, changes))
			r.Finding = rotationFix(r.Finding, changes)
			memo[key] = r
		}
		r.App = a
		if r.After != OutcomeWorks {
			rep.AnyBreaks = true
		}
		i, ok := byCaller[a.Caller]
		if !ok {
			i = len(rep.Groups)
			byCaller[a.Caller] = i
			rep.Groups = append(rep.Groups, Group{Caller: a.Caller})
		}
		rep.Groups[i].Apps = append(rep.Groups[i].Apps, r)
	}
	slices.SortStableFunc(rep.Groups, func(a, b Group) int { return strings.Compare(a.Caller, b.Caller) })
	return rep, nil
}

// rotationFix gives a CA rotation's verification failure the fix that
// prevents it: trust the new CA before the server presents it.
func rotationFix(f *diagnose.Finding, changes []Change) *diagnose.Finding {
	if f == nil || f.Code != diagnose.CodeCAMismatch {
		return f
	}
	for _, c := range changes {
		if c.Kind == KindCA {
			g := *f
			g.Fix = "before the rotation, add the certificates of " + c.CAFile + " to the endpoint's tls.ca bundle (keep the old CA in it until every server presents the new certificate): the broker sends that bundle to every app"
			return &g
		}
	}
	return f
}

// envKey identifies what decides a prediction in env (not its clock).
func envKey(env diagnose.ClientEnvironment) string {
	env.ClientTime = time.Time{}
	return fmt.Sprintf("%#v", env)
}

// current is the endpoint's state now. What the broker does not know about
// the server is assumed and said.
func current(ep Endpoint, assume *[]string) state {
	s := state{hints: ep.Hints, diag: ep.Diagnose, iam: ep.Hints.IAM, trustsCA: true}
	switch {
	case ep.Hints.IAM:
		s.accountPlugin = handshake.PluginClearPassword
	case ep.Hints.Plugin != "":
		s.accountPlugin = ep.Hints.Plugin
	default:
		s.accountPlugin = handshake.PluginCachingSHA2
		*assume = append(*assume, "the endpoint does not say the account's plugin: assumed caching_sha2_password (MySQL 8's default)")
	}
	s.defaultPlugin = s.accountPlugin
	if s.iam {
		s.defaultPlugin = handshake.PluginNative
	}
	if s.defaultPlugin == handshake.PluginEd25519 {
		s.defaultPlugin = handshake.PluginNative
	}
	*assume = append(*assume, "the server now announces "+s.defaultPlugin+" in its greeting, offers TLS and has require_secure_transport off")
	return s
}

// apply returns the state after changes.
func (s state) apply(ep Endpoint, changes []Change, assume *[]string) state {
	for _, c := range changes {
		switch c.Kind {
		case KindPlugin:
			if c.Plugin == handshake.PluginEd25519 {
				*assume = append(*assume, "client_ed25519 (MariaDB) is decided from each driver's plugins, not played against a server")
			}
			s.accountPlugin, s.iam = c.Plugin, false
			s.hints.Plugin, s.hints.IAM = c.Plugin, false
			s.diag.Plugin, s.diag.AccountPlugin, s.diag.IAM = c.Plugin, c.Plugin, false
		case KindAuth, KindProxyIAM:
			s.accountPlugin, s.iam = handshake.PluginClearPassword, true
			s.hints.IAM, s.hints.Plugin = true, ""
			s.diag.IAM, s.diag.Plugin = true, ""
			if c.Kind == KindProxyIAM {
				s.proxyTLS = true
			}
			if m := s.hints.TLSMode; m != config.TLSVerifyIdentity && m != config.TLSVerifyCA {
				*assume = append(*assume, fmt.Sprintf("the endpoint keeps tls.mode %s, which the broker refuses with auth: iam (an IAM token must go to a verified server): set tls.mode verify-identity with the change", m))
			}
		case KindRequireTLS:
			s.requireTLS = true
		case KindCA:
			s.trustsCA = len(ep.CAPEM) > 0 && containsCerts(ep.CAPEM, c.CAPEM)
			if len(ep.CAPEM) == 0 {
				*assume = append(*assume, "the endpoint sends no CA bundle: applications verify with their system roots, assumed not to hold the new CA")
			}
		case KindDriver:
			// Applied to each application's environment (upgraded).
		}
	}
	return s
}

// containsCerts reports whether bundle holds every certificate of want
// (and want holds at least one).
func containsCerts(bundle, want []byte) bool {
	have := certs(bundle)
	w := certs(want)
	if len(w) == 0 {
		return false
	}
	for _, c := range w {
		if !slices.ContainsFunc(have, func(h []byte) bool { return bytes.Equal(h, c) }) {
			return false
		}
	}
	return true
}

func certs(pemBytes []byte) [][]byte {
	var out [][]byte
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(b.Bytes); err == nil {
				out = append(out, b.Bytes)
			}
		}
	}
}

// upgraded returns env with driver= changes applied to its packages.
func upgraded(env diagnose.ClientEnvironment, changes []Change) diagnose.ClientEnvironment {
	for _, c := range changes {
		if c.Kind != KindDriver {
			continue
		}
		pkg := c.Driver
		if d, err := driver.For(c.Driver); err == nil && d.Base().Env.Package != "" {
			pkg = d.Base().Env.Package
		}
		pk := slices.Clone(env.Packages)
		for i := range pk {
			if strings.EqualFold(pk[i].Name, pkg) {
				pk[i].Version = c.Version
			}
		}
		env.Packages = pk
	}
	return env
}

// played is one state's server with what the prober needs to reach it.
type played struct {
	st     state
	srv    *sim.Server
	secret string
	caPEM  []byte // what the applications trust
}

func (p *played) close() { _ = p.srv.Close() }

// startSim starts a server set up as st says.
func startSim(ctx context.Context, ep Endpoint, st state) (*played, error) {
	names := []string{"localhost"}
	if n := st.hints.VerifyName(); n != "" && net.ParseIP(n) == nil {
		names = append(names, n)
	}
	if n := st.hints.ConnectHost(); n != "" && net.ParseIP(n) == nil {
		names = append(names, n)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, n := range []string{st.hints.VerifyName(), st.hints.ConnectHost()} {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		}
	}
	tlsCfg, caPEM, err := sim.GenerateTLSFor(names, ips)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", ep.Name, err)
	}
	trusted := caPEM
	if !st.trustsCA {
		// The applications' bundle lacks the server's new CA.
		if _, other, err := sim.GenerateTLSFor(names, ips); err == nil {
			trusted = other
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := "preflight-" + hex.EncodeToString(b) // not a credential: the simulated account's own
	srv, err := sim.Start(ctx, sim.Options{
		DefaultPlugin: simPlugin(st.defaultPlugin),
		TLS:           tlsCfg, CAPEM: caPEM,
		Accounts:               []sim.Account{{User: st.hints.User, Password: secret, Plugin: simPlugin(st.accountPlugin)}},
		RequireSecureTransport: st.requireTLS,
		ProxyRequiresTLS:       st.proxyTLS,
	})
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", ep.Name, err)
	}
	return &played{st: st, srv: srv, secret: secret, caPEM: trusted}, nil
}

// simPlugin maps a plugin the simulated server cannot run (client_ed25519
// is MariaDB's) to the nearest it can; the drivers' ed25519 support is
// decided by their profiles before the server matters.
func simPlugin(p string) string {
	if p == handshake.PluginEd25519 {
		return handshake.PluginSHA256
	}
	return p
}

// fullAuthOnly are the environment findings that concern only full
// authentication: with a warm cache, fast auth logs in.
var fullAuthOnly = []string{diagnose.CodeRSAPackageMissing, diagnose.CodeFullAuthNeedsTLS}

// play predicts env's driver against the state: cold cache first, then, for
// caching_sha2_password when that fails, with the cache warmed by a login
// that can do full authentication.
func (p *played) play(ctx context.Context, env diagnose.ClientEnvironment) (Outcome, *diagnose.Finding, string, string, string) {
	env.ClientTime = time.Time{} // the inventory's report time is no clock reading
	hin := p.st.hints
	base := handshake.Target{Addr: p.srv.Addr, User: hin.User, Secret: p.secret, Database: hin.Database,
		RevealWithoutVerifiedTLS: []string{handshake.AnyPlugin}} // the simulated account's secret only
	if tc, err := dbtls.Config(hin.TLSMode, p.caPEM, hin.VerifyName()); err == nil {
		base.TLS = tc // the drivers' own TLS is derived from it (handshake.Profile.TargetTLS)
	}
	probe := &handshake.Probe{}
	run := func() (diagnose.EnvironmentReport, *diagnose.EnvPrediction, *diagnose.Finding) {
		rep := diagnose.EnvironmentPredict(ctx, probe, base, p.st.diag, env, hin, time.Now())
		for i := range rep.Findings {
			if rep.Findings[i].Code == diagnose.CodeDriverNotInstalled {
				return rep, nil, &rep.Findings[i]
			}
		}
		if len(rep.Drivers) == 0 {
			return rep, nil, &diagnose.Finding{Code: diagnose.CodeDriverNotInstalled, Severity: diagnose.SeverityError,
				Cause: "the application reported no MySQL driver", Fix: "report the environment from the application's process (the connbroker helpers do)"}
		}
		return rep, &rep.Drivers[0], rep.Drivers[0].Finding
	}
	if p.st.accountPlugin == handshake.PluginEd25519 {
		return ed25519Outcome(env, hin)
	}
	p.srv.InvalidateCache()
	rep, d, f := run()
	if d == nil {
		return OutcomeBreaks, f, rep.Driver, "", ""
	}
	if d.Works {
		return OutcomeWorks, nil, d.Key, d.Version, d.Case.Options
	}
	if f == nil {
		f = &diagnose.Finding{Code: diagnose.CodeServerError, Severity: diagnose.SeverityError, Cause: fmt.Sprintf("the login ended with %s", d.Result)}
	}
	if p.st.accountPlugin != handshake.PluginCachingSHA2 || !p.warm(ctx, base) {
		return OutcomeBreaks, f, d.Key, d.Version, d.Case.Options
	}
	_, w, wf := run()
	if w == nil {
		return OutcomeBreaks, f, d.Key, d.Version, d.Case.Options
	}
	if w.Result == handshake.ResultOK && (wf == nil || slices.Contains(fullAuthOnly, wf.Code)) {
		return OutcomeWarmCacheOnly, f, d.Key, d.Version, d.Case.Options
	}
	// Even fast auth fails: what stops it is the finding (the full-auth
	// rule would hide, say, require_secure_transport's 3159).
	if wf != nil && !slices.Contains(fullAuthOnly, wf.Code) {
		return OutcomeBreaks, wf, d.Key, d.Version, d.Case.Options
	}
	if w.Result != handshake.ResultOK {
		if raw := diagnose.Compare(ctx, probe, base, p.st.diag, []diagnose.DriverCase{w.Case}); len(raw) == 1 && raw[0].Finding != nil {
			return OutcomeBreaks, raw[0].Finding, d.Key, d.Version, d.Case.Options
		}
	}
	return OutcomeBreaks, f, d.Key, d.Version, d.Case.Options
}

// ed25519Outcome decides client_ed25519 (MariaDB's plugin, which the
// simulated server does not run) from the driver's profile: it works when
// the driver, in this environment, has the plugin.
func ed25519Outcome(env diagnose.ClientEnvironment, hin hints.Input) (Outcome, *diagnose.Finding, string, string, string) {
	cases, app, missing := diagnose.EnvironmentCases(env, hin)
	if missing != nil || len(cases) == 0 {
		if missing == nil {
			missing = &diagnose.Finding{Code: diagnose.CodeDriverNotInstalled, Severity: diagnose.SeverityError, Cause: "the application reported no MySQL driver"}
		}
		return OutcomeBreaks, missing, app, "", ""
	}
	c := cases[0]
	if c.Broken != nil {
		return OutcomeBreaks, c.Broken, c.Key, c.Version, c.Options
	}
	if slices.Contains(c.Profile.Plugins, handshake.PluginEd25519) {
		return OutcomeWorks, nil, c.Key, c.Version, c.Options
	}
	fix := c.Profile.PluginNeeds[handshake.PluginEd25519]
	if fix == "" {
		fix = "use a driver that supports client_ed25519, or keep the account's plugin"
	}
	return OutcomeBreaks, &diagnose.Finding{Code: diagnose.CodePluginUnsupported, Severity: diagnose.SeverityError,
		Cause: fmt.Sprintf("%s %s, as set up here, has no client_ed25519 plugin: every login of an ed25519 account fails", c.Driver, c.Version), Fix: fix}, c.Key, c.Version, c.Options
}

// warm fills the server's caching_sha2_password cache with one full
// authentication over TLS (what any other client of the account does).
func (p *played) warm(ctx context.Context, base handshake.Target) bool {
	t := base
	t.Profile = handshake.PyMySQL(true, true)
	t.TLS = p.srv.ClientTLS("127.0.0.1")
	_, err := (&handshake.Probe{}).Run(ctx, t)
	return err == nil
}
