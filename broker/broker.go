// Package broker is connbroker's domain: for a named endpoint it resolves
// the authentication method, issues a fresh credential, renders the driver
// hints and validates logins. It imports neither gRPC nor generated code;
// package server adapts it to the API.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/driver"
	"github.com/connbroker/connbroker/broker/hints"
	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/broker/resolve"
	"github.com/connbroker/connbroker/broker/validate"
)

// ErrNotFound means the endpoint is not configured. Do not retry.
var ErrNotFound = errors.New("endpoint not found")

// NotFoundError names the unknown endpoint; it matches ErrNotFound.
type NotFoundError struct{ Endpoint string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("endpoint %q is not configured", e.Endpoint)
}

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ErrInvalidArgument means the request is malformed. Do not retry.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgError names the bad field; it matches ErrInvalidArgument.
type ArgError struct {
	// Field is the request field, e.g. "endpoint".
	Field string
	// Problem says what is wrong and how to fix it.
	Problem string
	// Err is an underlying cause, if any.
	Err error
}

func (e *ArgError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap returns ErrInvalidArgument and the cause.
func (e *ArgError) Unwrap() []error { return []error{ErrInvalidArgument, e.Err} }

// Method is an authentication method.
type Method = config.AuthMethod

// Resolution is the chosen method and plugin, with evidence: broker/resolve's
// one type for it.
type Resolution = resolve.Result

// TLS are the TLS settings a client must apply.
type TLS struct {
	Mode       config.TLSMode
	CAPEM      []byte
	ServerName string
}

// Params is everything a client needs for one new connection.
type Params struct {
	Endpoint   string
	Host       string
	Port       int
	User       string
	Database   string
	Credential credential.Credential
	Plugin     string
	TLS        TLS
	// Hints is nil when no driver was asked for. It may be shared with
	// other Params of the same endpoint and driver: read it, never modify it.
	Hints      *hints.Hints
	Resolution Resolution
}

// Service answers the broker's questions. It is safe for concurrent use;
// SetConfig swaps the configuration atomically.
type Service struct {
	cfg       atomic.Pointer[config.Config]
	issuer    credential.Issuer
	validator *validate.Validator
	log       *slog.Logger
	sinks     sinks // the event stream's subscribers (events.go)
	views     atomic.Pointer[views]
	res       resolutions
	inflight  flights                       // identical validations running now (singleflight.go)
	slots     endpointSlots                 // logins and probes running per endpoint (singleflight.go)
	reports   reportGate                    // re-reads after ReportLoginFailure per endpoint (loginfailure.go)
	aws       atomic.Pointer[awsapi.Source] // AWS API evidence (aws.go); nil when off
	inventory inventoryHolder               // applications seen, for Preflight (preflight.go); nil when off
}

// New returns a Service over cfg issuing with issuer.
func New(cfg *config.Config, issuer credential.Issuer, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{issuer: issuer, log: log, validator: validate.New(cfg.Validation.MaxConcurrent)}
	s.cfg.Store(cfg)
	return s
}

// Config returns the current configuration.
func (s *Service) Config() *config.Config { return s.cfg.Load() }

// SetConfig replaces the configuration and drops what was cached for the
// old one: every rendered view, and the auth: auto resolutions of
// endpoints that are gone or changed (resolution.go). c must not be
// modified afterwards: it is shared, read-only, by every request. It emits nothing: a
// reload reports itself with ReloadApplied or RejectReload (discovery also
// calls SetConfig).
func (s *Service) SetConfig(c *config.Config) {
	s.cfg.Store(c)
	s.views.Store(nil) // the old config's rendered hints (view.go)
	s.res.reload(c)
}

// Endpoints returns the configured endpoints sorted by name.
func (s *Service) Endpoints() []*config.Endpoint {
	c := s.cfg.Load()
	out := make([]*config.Endpoint, 0, len(c.Endpoints))
	for _, e := range c.Endpoints {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkName validates an endpoint name from a request.
func checkName(field, name string) error {
	switch {
	case name == "":
		return &ArgError{Field: field, Problem: "is required"}
	case len(name) > 63 || !utf8.ValidString(name) || !config.ValidEndpointName(name):
		return &ArgError{Field: field, Problem: "is not a valid endpoint name (1-63 characters of a-z, 0-9, '.', '_', '-')"}
	}
	return nil
}

func (s *Service) endpoint(field, name string) (*config.Endpoint, error) {
	if err := checkName(field, name); err != nil {
		return nil, err
	}
	ep, ok := s.cfg.Load().Endpoints[name]
	if !ok {
		return nil, &NotFoundError{Endpoint: name}
	}
	return ep, nil
}

// Resolve returns how ep authenticates, with the evidence its config and
// host name give (no I/O; auth: auto endpoints are resolved by the Service
// with the greeting and the account's plugin).
func Resolve(ep *config.Endpoint) Resolution {
	r, err := resolve.Decide(ep, resolve.Facts{})
	if err != nil {
		return Resolution{Method: ep.Auth, Plugin: ep.Plugin, Evidence: []validate.Evidence{{Source: "config", Detail: err.Error()}}}
	}
	return r
}

// Params returns fresh connection parameters for endpoint, with hints for
// driverName when it is not empty, and emits observe.CredentialIssued
// (or observe.Denied / observe.IssueFailed). When a subscriber refuses the
// credential (the audit log cannot be written and fails closed) the error
// wraps the subscriber's and no params are returned.
func (s *Service) Params(ctx context.Context, endpoint, driverName string) (*Params, error) {
	p, err := s.params(ctx, endpoint, driverName)
	if err != nil {
		s.failed(ctx, endpoint, err, func(user string) observe.Event {
			return observe.IssueFailed{Endpoint: endpoint, DBUser: user, Err: err}
		})
		return nil, err
	}
	if err := s.issued(ctx, p, false); err != nil {
		return nil, err
	}
	return p, nil
}

// params is Params without emitting events: Watch polls it and reports
// only what it sends.
func (s *Service) params(ctx context.Context, endpoint, driverName string) (*Params, error) {
	p := new(Params)
	if err := s.paramsInto(ctx, endpoint, driverName, p); err != nil {
		return nil, err
	}
	return p, nil
}

// paramsInto is params writing into p (overwritten whole): Watch polls
// into two Params it reuses, so a poll that finds nothing new allocates
// nothing (5,000 watches poll 1,000 times a second at the default poll).
func (s *Service) paramsInto(ctx context.Context, endpoint, driverName string, p *Params) error {
	cfg, ep, err := s.endpointIn(ctx, "endpoint", endpoint)
	if err != nil {
		return err
	}
	var r *driver.Descriptor
	if driverName != "" {
		if r, err = driver.For(driverName); err != nil {
			return &ArgError{Field: "driver", Problem: err.Error(), Err: err}
		}
	}
	ep, auto, err := s.effective(ctx, ep)
	if err != nil {
		return fmt.Errorf("resolve auth: %w", err)
	}
	cred, err := s.issuer.Issue(ctx, ep)
	if err != nil {
		return fmt.Errorf("issue credential: %w", err)
	}
	v := s.view(cfg, ep, r)
	*p = Params{
		Endpoint:   ep.Name,
		Host:       ep.Host,
		Port:       ep.Port,
		User:       ep.User,
		Database:   ep.Database,
		Credential: cred,
		Plugin:     ep.Plugin,
		TLS:        TLS{Mode: ep.TLS.Mode, CAPEM: ep.TLS.CAPEM, ServerName: ep.TLS.ServerName},
		Resolution: v.res,
		Hints:      v.hints,
	}
	if auto != nil { // auth: auto: the resolution with its gathered evidence
		p.Resolution = *auto
	}
	if v.hints != nil && cred.Stale {
		h := *v.hints
		h.Warnings = append(slices.Clip(h.Warnings), "the credential source is failing; this cached credential is still valid until expires_at")
		p.Hints = &h
	}
	return nil
}

// ValidateRequest selects what to validate.
type ValidateRequest struct {
	// Endpoints are names to validate; ignored when All.
	Endpoints []string
	// All validates every endpoint.
	All bool
	// Driver is whose params to validate; "" means go-sql-driver.
	Driver string
	// Timeout bounds each endpoint; 0 means the configured default.
	Timeout time.Duration
	// CompareDrivers also predicts each driver profile's fate.
	CompareDrivers bool
	// Environment, when set, is the caller's own process: each result's
	// Environment predicts its installed drivers (connbroker doctor).
	Environment *diagnose.ClientEnvironment
}

// MaxValidateEndpoints is the most endpoints one validation may cover,
// named or selected with all.
const MaxValidateEndpoints = 256

// MaxValidateTimeout is the longest per-endpoint timeout a request may ask.
const MaxValidateTimeout = time.Minute

// Validate logs in to each selected endpoint, concurrently (bounded by the
// validator's cap), and returns one result per endpoint in order. It emits
// one observe.Validation per result, or one observe.ValidationRefused (or
// observe.Denied) when the request is refused.
func (s *Service) Validate(ctx context.Context, req ValidateRequest) ([]validate.Result, error) {
	out, err := s.validate(ctx, req)
	if err != nil {
		s.failed(ctx, endpointOfErr(err), err, func(string) observe.Event {
			return observe.ValidationRefused{Endpoint: endpointOfErr(err), Err: err}
		})
		return nil, err
	}
	return out, nil
}

// outcome is one endpoint's validation result and its finding for the
// event stream (the first failed stage, or why no login ran).
type outcome struct {
	res     validate.Result
	finding string
	// shared is true when res came from a login run for another request.
	shared bool
}

func (s *Service) validate(ctx context.Context, req ValidateRequest) ([]validate.Result, error) {
	receivedAt := time.Now()
	cfg := s.cfg.Load()
	names := req.Endpoints
	switch {
	case req.All && len(names) > 0:
		return nil, &ArgError{Field: "endpoints", Problem: "give endpoint names or all, not both"}
	case req.All:
		for _, e := range s.VisibleEndpoints(ctx) {
			names = append(names, e.Name)
		}
		if len(names) == 0 {
			// A deploy gate must not pass because it may see nothing.
			return nil, deniedAll(ctx)
		}
	case len(names) == 0:
		return nil, &ArgError{Field: "endpoints", Problem: "name at least one endpoint, or set all"}
	}
	if len(names) > MaxValidateEndpoints { // all: true obeys the same cap
		return nil, &ArgError{Field: "endpoints", Problem: fmt.Sprintf("%d endpoints selected; at most %d per request: name them in batches", len(names), MaxValidateEndpoints)}
	}
	if req.Timeout < 0 || req.Timeout > MaxValidateTimeout {
		return nil, &ArgError{Field: "timeout", Problem: fmt.Sprintf("must be between 0 and %s", MaxValidateTimeout)}
	}
	if req.Driver != "" {
		if r, err := driver.For(req.Driver); err != nil {
			return nil, &ArgError{Field: "driver", Problem: err.Error(), Err: err}
		} else if r.Name != "go-sql-driver" {
			return nil, &ArgError{Field: "driver", Problem: fmt.Sprintf("validation logs in with go-sql-driver; %q is checked by the diagnosis (connbroker diagnose)", r.Name)}
		}
	}
	eps := make([]*config.Endpoint, len(names))
	for i, n := range names {
		ep, err := s.endpointFor(ctx, fmt.Sprintf("endpoints[%d]", i), n)
		if err != nil {
			return nil, err
		}
		if slices.Contains(names[:i], n) {
			return nil, &ArgError{Field: fmt.Sprintf("endpoints[%d]", i), Problem: fmt.Sprintf("%q is listed twice", n)}
		}
		eps[i] = ep
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = cfg.Validation.Timeout
	}
	out := make([]validate.Result, len(eps))
	// The request's logins to one server with the same TLS settings
	// resume the session of the first (dbtls.Sessions): scoped to this
	// request, never shared with another.
	sessions := dbtls.NewSessions()
	one := func(i int, ep *config.Endpoint) {
		start := time.Now()
		var o outcome
		if req.Environment != nil {
			// One caller's own process: never shared with other requests.
			o = s.validateOne(ctx, ep, timeout, req.CompareDrivers, req.Environment, receivedAt, sessions)
		} else {
			o = s.validateShared(ctx, ep, timeout, req.CompareDrivers, sessions)
		}
		out[i] = o.res
		s.emit(ctx, observe.Validation{
			Endpoint: ep.Name, DBUser: ep.User, OK: o.res.OK, Finding: o.finding, Reason: o.res.Reason,
			Duration: time.Since(start), Shared: o.shared,
		})
	}
	if len(eps) == 1 { // on the caller's goroutine: one hand-off less per call (BENCHMARKS.md)
		one(0, eps[0])
		return out, nil
	}
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { one(i, ep) })
	}
	wg.Wait()
	return out, nil
}

// validateOne runs one login to ep and returns its result and finding. The
// login resumes TLS sessions from sessions, the request's store (nil: a
// full handshake).
func (s *Service) validateOne(ctx context.Context, ep *config.Endpoint, timeout time.Duration, compare bool, env *diagnose.ClientEnvironment, receivedAt time.Time, sessions *dbtls.Sessions) outcome {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := s.endpointSlot(cctx, ep) // singleflight.go
	if err != nil {
		return outcome{res: validate.Result{Endpoint: ep.Name, Reason: "validation was not started: " + err.Error()}, finding: "wait"}
	}
	defer release()
	eff, resolution, err := s.effective(cctx, ep)
	if err != nil {
		st := validate.Stage{Name: "resolve", Duration: time.Since(start), Error: "resolve auth: " + err.Error()}
		return outcome{res: validate.Result{Endpoint: ep.Name, Stages: []validate.Stage{st}, Reason: st.Error}, finding: st.Name}
	}
	ep = eff
	if resolution == nil { // an explicit method: the cached config-only resolution
		r := Resolve(ep) // config-only, no I/O; a login follows
		resolution = &r
	}
	cred, err := s.issuer.Issue(cctx, ep)
	credStage := validate.Stage{Name: "credential", OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		// The caller sees the safe message; the log has the cause (role
		// ARN, account id, path).
		s.log.WarnContext(ctx, "validation: no credential", "endpoint", ep.Name, "err", err)
		credStage.Error = "no credential: " + credential.SafeMessage(err)
		return outcome{res: validate.Result{Endpoint: ep.Name, Stages: []validate.Stage{credStage}, Reason: credStage.Error}, finding: credStage.Name}
	}
	target := targetFor(ep, cred)
	target.Sessions = sessions
	res := s.validator.Validate(cctx, target)
	res.Stages = append([]validate.Stage{credStage}, res.Stages...)
	res.Method, res.Plugin = ep.Auth, ep.Plugin
	res.Evidence = append(res.Evidence, resolution.Evidence...)
	// The prober replays the login only for a failure or when a transcript
	// is asked for (diagnose: compare_drivers; doctor: an environment).
	s.diagnoseLogin(cctx, ep, cred, &res, compare, !res.OK || compare || env != nil)
	if env != nil {
		res.Environment = s.predictEnvironment(cctx, ep, cred, *env, receivedAt)
	}
	if res.MySQLError != nil && res.MySQLError.Code == 1045 {
		res = s.afterAccessDenied(cctx, ep, target, res) // rotation.go
	}
	// A failure at INFO, a success at DEBUG (as the RPC log does): a fleet
	// validation would otherwise write a line per endpoint, 7% of its CPU;
	// the metrics count every validation and the audit records each one.
	level := slog.LevelDebug
	if !res.OK {
		level = slog.LevelInfo
	}
	s.log.Log(ctx, level, "validated endpoint", "endpoint", ep.Name, "ok", res.OK, "tls_resumed", res.TLSResumed, "duration", time.Since(start))
	return outcome{res: res, finding: failedStage(res)}
}

// targetFor is the login the validator makes for the effective endpoint ep
// with cred.
func targetFor(ep *config.Endpoint, cred credential.Credential) validate.Target {
	return validate.Target{
		Endpoint: ep.Name, Addr: ep.DialAddr(), User: ep.User, Database: ep.Database,
		Secret: cred.Secret, IAM: ep.Auth == config.AuthIAM,
		TLSMode: ep.TLS.Mode, CAPEM: ep.TLS.CAPEM, ServerName: ep.TLS.ServerName,
		AllowCleartext: ep.ClearText(),
		Plugin:         ep.Plugin,
	}
}
