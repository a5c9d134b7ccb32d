package connbroker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Defaults of a Kept.
const (
	// DefaultStaleMargin is how long before the credential's expires_at
	// kept params stop being served.
	DefaultStaleMargin = 60 * time.Second
	// DefaultStaleWithoutExpiry is how long after fetching kept params whose
	// credential has no expires_at (a password from a file or env) are served.
	DefaultStaleWithoutExpiry = 15 * time.Minute
	// OutageCallTimeout bounds each call while an outage is open (the
	// previous call was not answered), so that serving kept params costs a
	// new connection at most this much; the first call of an outage gets
	// the connector's full timeout.
	OutageCallTimeout = 250 * time.Millisecond
)

// UnavailableError says the broker at Address did not answer for Endpoint
// and Driver, and whether (and how long ago) the kept params expired.
// errors.Is(err, ErrBrokerUnavailable) is true; Unwrap gives the gRPC error.
type UnavailableError struct {
	// Address is the broker target the call went to ("" when unknown).
	Address string
	// Endpoint and Driver are what was asked.
	Endpoint, Driver string
	// Expired says kept params were there but past their usable time.
	Expired bool
	// ExpiredAgo is how long ago they stopped being usable.
	ExpiredAgo time.Duration
	// Until is when they stopped being usable (expires_at minus the
	// margin, or the fetch time plus the time for credentials without one).
	Until time.Time
	// Err is the error of the call.
	Err error
}

// Error says which broker, what was asked and, for expired kept params, how
// long ago they expired. It never contains a secret.
func (e *UnavailableError) Error() string {
	addr := e.Address
	if addr == "" {
		addr = "(address unknown: use NewClient or WithBrokerAddress)"
	}
	msg := fmt.Sprintf("get connection params for endpoint %q (driver %q) at broker %s: broker unavailable", e.Endpoint, e.Driver, addr)
	if e.Expired {
		msg += fmt.Sprintf("; the last params for this endpoint expired %s ago (usable until %s), so none can be served until the broker answers again",
			e.ExpiredAgo.Round(100*time.Millisecond), e.Until.UTC().Format(time.RFC3339))
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the call's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBrokerUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrBrokerUnavailable }

// KeptStats is a snapshot of a Kept's counters, for export as metrics.
type KeptStats struct {
	// StaleServes counts kept params served while the broker was away.
	StaleServes uint64
	// StaleServesByEndpoint is StaleServes per "endpoint/driver".
	StaleServesByEndpoint map[string]uint64
	// Outages counts runs of unanswered calls.
	Outages uint64
	// OutageSince is when the current outage began (zero when none).
	OutageSince time.Time
	// ExpiredRefusals counts calls refused because kept params had expired.
	ExpiredRefusals uint64
}

// Kept keeps the last params per (endpoint, driver) and serves them while
// the broker is unreachable or answers UNAVAILABLE (or does not answer in
// time), as long as the credential's expires_at minus Margin is ahead. It
// logs one warning per outage and counts every stale serve (Stats). Kept
// params are forgotten when the broker answers NOT_FOUND, PERMISSION_DENIED,
// UNAUTHENTICATED or INVALID_ARGUMENT for them. Safe for concurrent use; one
// Kept may be shared by several connectors.
type Kept struct {
	margin, withoutExpiry time.Duration
	log                   *slog.Logger
	now                   func() time.Time

	mu          sync.Mutex
	entries     map[keptKey]keptEntry
	served      map[keptKey]uint64
	outages     uint64
	outageSince time.Time
	warned      bool
	refusals    uint64
}

type keptKey struct{ endpoint, driver string }

type keptEntry struct {
	params *v1.ConnectionParams
	until  time.Time
}

// NewKept returns an empty Kept. margin <= 0 means DefaultStaleMargin,
// withoutExpiry <= 0 DefaultStaleWithoutExpiry; log nil means slog.Default().
func NewKept(margin, withoutExpiry time.Duration, log *slog.Logger) *Kept {
	if margin <= 0 {
		margin = DefaultStaleMargin
	}
	if withoutExpiry <= 0 {
		withoutExpiry = DefaultStaleWithoutExpiry
	}
	if log == nil {
		log = slog.Default()
	}
	return &Kept{margin: margin, withoutExpiry: withoutExpiry, log: log, now: time.Now,
		entries: map[keptKey]keptEntry{}, served: map[keptKey]uint64{}}
}

// Get asks client for params with req (bounded by timeout) and keeps them
// per endpoint and driver; when the broker does not answer it serves the
// kept ones while usable. req may carry the digest of the CA the caller
// holds, so the broker can leave the PEM out. address names the broker in
// logs and errors. The secret is in the result: never log it.
func (k *Kept) Get(ctx context.Context, client v1.BrokerServiceClient, address string, req *v1.GetConnectionParamsRequest, timeout time.Duration) (*v1.ConnectionParams, error) {
	endpoint, driver := req.GetEndpoint(), req.GetDriver()
	k.mu.Lock()
	if !k.outageSince.IsZero() && timeout > OutageCallTimeout {
		timeout = OutageCallTimeout
	}
	k.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.GetConnectionParams(cctx, req)
	key := keptKey{endpoint, driver}
	if err == nil {
		k.keep(key, resp.GetParams(), address)
		return resp.GetParams(), nil
	}
	if ctx.Err() != nil { // the caller gave up: not an outage
		return nil, fmt.Errorf("get connection params for endpoint %q: %w", endpoint, FromError(err))
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return k.serve(key, address, err)
	case codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument:
		k.forget(key)
	}
	return nil, fmt.Errorf("get connection params for endpoint %q at broker %s: %w", endpoint, address, FromError(err))
}

func (k *Kept) keep(key keptKey, p *v1.ConnectionParams, address string) {
	now := k.now()
	until := now.Add(k.withoutExpiry)
	if exp := p.GetCredential().GetExpiresAt(); exp != nil {
		until = exp.AsTime().Add(-k.margin)
	}
	kept := proto.Clone(p).(*v1.ConnectionParams)
	k.mu.Lock()
	k.entries[key] = keptEntry{params: kept, until: until}
	since := k.outageSince
	k.outageSince, k.warned = time.Time{}, false
	k.mu.Unlock()
	if !since.IsZero() {
		k.log.Warn("connbroker: broker reachable again; fresh params", "broker", address, "outage", now.Sub(since).Round(time.Millisecond), "endpoint", key.endpoint, "driver", key.driver)
	}
}

func (k *Kept) forget(key keptKey) {
	k.mu.Lock()
	delete(k.entries, key)
	k.mu.Unlock()
}

func (k *Kept) serve(key keptKey, address string, callErr error) (*v1.ConnectionParams, error) {
	now := k.now()
	k.mu.Lock()
	if k.outageSince.IsZero() {
		k.outageSince = now
		k.outages++
	}
	e, ok := k.entries[key]
	uerr := &UnavailableError{Address: address, Endpoint: key.endpoint, Driver: key.driver, Err: callErr}
	if !ok {
		k.mu.Unlock()
		return nil, uerr
	}
	if !now.Before(e.until) {
		k.refusals++
		k.mu.Unlock()
		uerr.Expired, uerr.ExpiredAgo, uerr.Until = true, now.Sub(e.until), e.until
		return nil, uerr
	}
	k.served[key]++
	warn := !k.warned
	k.warned = true
	k.mu.Unlock()
	if warn {
		k.log.Warn("connbroker: broker unavailable; serving kept params (warning once per outage)", "broker", address,
			"endpoint", key.endpoint, "driver", key.driver, "usable_for", e.until.Sub(now).Round(time.Second), "err", status.Code(callErr).String())
	}
	return proto.Clone(e.params).(*v1.ConnectionParams), nil
}

// Stats returns a snapshot of the counters.
func (k *Kept) Stats() KeptStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := KeptStats{StaleServesByEndpoint: map[string]uint64{}, Outages: k.outages, OutageSince: k.outageSince, ExpiredRefusals: k.refusals}
	for key, n := range k.served {
		s.StaleServes += n
		s.StaleServesByEndpoint[key.endpoint+"/"+key.driver] = n
	}
	return s
}

// WithKept makes the connector keep and serve params through k (to share
// one Kept between connectors or read its Stats).
func WithKept(k *Kept) Option { return func(c *connector) { c.kept, c.noStale = k, false } }

// WithoutStale turns stale serving off: every Connect needs the broker.
func WithoutStale() Option { return func(c *connector) { c.kept, c.noStale = nil, true } }

// WithBrokerAddress names the broker in errors and logs (automatic for a
// *Client from NewClient).
func WithBrokerAddress(addr string) Option { return func(c *connector) { c.address = addr } }

// params fetches the connector's params, through its Kept when it has one.
func (c *connector) params(ctx context.Context) (*v1.ConnectionParams, error) {
	if c.kept != nil {
		// reportingClient (report.go): the inventory report with the
		// first request per process and endpoint.
		return c.kept.Get(ctx, reportingClient{c.client}, c.address, c.cas.request(c.endpoint, Driver), c.timeout)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := reportingClient{c.client}.GetConnectionParams(cctx, c.cas.request(c.endpoint, Driver))
	if err != nil {
		return nil, fmt.Errorf("get connection params for endpoint %q: %w", c.endpoint, FromError(err))
	}
	return resp.GetParams(), nil
}
