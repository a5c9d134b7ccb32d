package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// errRateLimited matches every refusal by a per-caller limit (status.go
// maps it to RESOURCE_EXHAUSTED with reason RATE_LIMITED). Retry after a
// short back-off.
var errRateLimited = errors.New("rate limited")

// limitError is one refusal; its message names the limit to raise.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// Unwrap returns errRateLimited.
func (e *limitError) Unwrap() error { return errRateLimited }

// The refusals, one per limit.
var (
	errIssueRate     = &limitError{"too many credential requests from this caller; slow down (limits.issue_rate)"}
	errProbeRate     = &limitError{"too many probes from this caller; slow down (limits.probe.rate)"}
	errProbeConc     = &limitError{"too many probes from this caller are running; wait for them (limits.probe.concurrent)"}
	errInventoryRate = &limitError{"too many inventory listings from this caller; slow down (they count as probes: limits.probe.rate)"}
	errInventoryConc = &limitError{"too many inventory listings from this caller are running; wait for them (they count as probes: limits.probe.concurrent)"}
	errValidateRate  = &limitError{"too many validations from this caller; slow down (limits.validate.rate, counted per endpoint)"}
	errValidateConc  = &limitError{"too many validations from this caller are running; wait for them (limits.validate.concurrent)"}
	errWatchStreams  = &limitError{"too many watch streams are open for this caller; close some (limits.watch_streams_per_caller)"}
	errValidateBurst = &limitError{"this validation names more endpoints than limits.validate.burst allows at once; split it"}
)

// limiterIdle is how long an unused per-caller limiter is kept.
const limiterIdle = 10 * time.Minute

// limitClass is the kind of call a bucket or counter is for.
type limitClass uint8

const (
	classIssue limitClass = iota
	classProbe
	classValidate
	classWatch
)

type limitKey struct {
	class  limitClass
	caller string
}

// callerLimiter holds per-caller token buckets and running-call counters
// for each limited kind of call. It is safe for concurrent use.
type callerLimiter struct {
	limits func() config.Limits
	// endpoints is how many endpoints are configured (the cost of a
	// validation with all: true).
	endpoints func() int
	now       func() time.Time

	mu      sync.Mutex
	current config.Limits
	buckets map[limitKey]*bucket
	running map[limitKey]int
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newCallerLimiter(cfg func() *config.Config) *callerLimiter {
	return &callerLimiter{
		limits:    func() config.Limits { return cfg().Limits },
		endpoints: func() int { return len(cfg().Endpoints) },
		now:       time.Now, buckets: map[limitKey]*bucket{}, running: map[limitKey]int{},
	}
}

// callerKey is the caller identity (its Qualified form, which carries its
// kind: uri:, dns: or uid:, so a SAN "uid:0" never shares the Unix uid 0's bucket) or, for an anonymous caller, its
// peer IP address. Every loopback address counts as one: binding
// 127.0.0.2, 127.0.0.3 … gives no fresh buckets. IPv6 peers are keyed
// by their /64.
func callerKey(ctx context.Context) string {
	if id, ok := caller.FromContext(ctx); ok {
		return "id:" + id.Qualified()
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return "ip:loopback" // the common local case, without formatting the address
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return "addr:" + p.Addr.Network()
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "ip:" + host
	case ip.IsLoopback():
		return "ip:loopback"
	case ip.To4() == nil:
		return "ip:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return "ip:" + ip.String()
}

func (l *callerLimiter) limitOf(lim config.Limits, class limitClass) (r rate.Limit, burst, concurrent int) {
	switch class {
	case classIssue:
		return rate.Limit(lim.IssueRate), lim.IssueBurst, 0
	case classProbe:
		return rate.Limit(lim.Probe.Rate), lim.Probe.Burst, lim.Probe.Concurrent
	case classValidate:
		return rate.Limit(lim.Validate.Rate), lim.Validate.Burst, lim.Validate.Concurrent
	case classWatch:
		return rate.Inf, 0, lim.WatchStreamsPerCaller
	}
	return rate.Inf, 0, 0
}

// allow takes n tokens from the caller's bucket of class and, when the
// class has a concurrency cap, one running slot; release gives the slot
// back. rateErr and concErr are the refusals to return.
func (l *callerLimiter) acquire(class limitClass, key string, n int, rateErr, concErr error) (release func(), err error) {
	lim := l.limits()
	now := l.now()
	k := limitKey{class, key}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim != l.current { // a reload changed the limits: fresh buckets
		l.current, l.buckets = lim, map[limitKey]*bucket{}
	}
	l.calls++
	if l.calls%1024 == 0 {
		for k, b := range l.buckets {
			if now.Sub(b.last) > limiterIdle {
				delete(l.buckets, k)
			}
		}
	}
	r, burst, concurrent := l.limitOf(lim, class)
	if concurrent > 0 && l.running[k] >= concurrent {
		return nil, concErr
	}
	if r != rate.Inf {
		if n > burst {
			return nil, errValidateBurst
		}
		b, ok := l.buckets[k]
		if !ok {
			b = &bucket{lim: rate.NewLimiter(r, burst)}
			l.buckets[k] = b
		}
		b.last = now
		if !b.lim.AllowN(now, n) {
			return nil, rateErr
		}
	}
	if concurrent == 0 {
		return func() {}, nil
	}
	l.running[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.running[k]--; l.running[k] <= 0 {
				delete(l.running, k)
			}
			l.mu.Unlock()
		})
	}, nil
}

// validateCost is how many endpoints a validation request covers: the
// names it lists or, for all: true, every configured endpoint up to the
// per-request cap (the caller may see fewer; the broker refuses more).
func validateCost(r *v1.ValidateConnectionRequest, configured int) int {
	if r.GetAll() {
		return max(1, min(configured, broker.MaxValidateEndpoints))
	}
	return max(1, len(r.GetEndpoints()))
}

// rateLimitUnary refuses, with RESOURCE_EXHAUSTED, GetConnectionParams
// beyond limits.issue_rate, and ProbeEndpoint and ValidateConnection beyond
// their per-caller rate or concurrency (ListInventory counts as a probe);
// each refusal is reported to svc's event stream.
func rateLimitUnary(l *callerLimiter, svc *broker.Service) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		var (
			release  func()
			err      error
			endpoint string
		)
		switch r := req.(type) {
		case *v1.GetConnectionParamsRequest:
			release, err = l.acquire(classIssue, callerKey(ctx), 1, errIssueRate, nil)
			endpoint = r.GetEndpoint()
		case *v1.ProbeEndpointRequest:
			release, err = l.acquire(classProbe, callerKey(ctx), 1, errProbeRate, errProbeConc)
			endpoint = r.GetEndpoint()
		case *v1.ListInventoryRequest: // a database read: bounded as a probe
			release, err = l.acquire(classProbe, callerKey(ctx), 1, errInventoryRate, errInventoryConc)
		case *v1.ValidateConnectionRequest:
			release, err = l.acquire(classValidate, callerKey(ctx), validateCost(r, l.endpoints()), errValidateRate, errValidateConc)
		case *v1.PreflightRequest:
			// It plays every app's driver against in-process servers:
			// bounded as one validation.
			release, err = l.acquire(classValidate, callerKey(ctx), 1, errValidateRate, errValidateConc)
		default:
			return handler(ctx, req)
		}
		if err != nil {
			svc.RateLimited(ctx, endpoint, err)
			return nil, toStatus(err)
		}
		defer release()
		return handler(ctx, req)
	}
}

// rateLimitStream counts each WatchConnectionParams stream opened against
// the caller's issuance rate, so opening streams cannot bypass the limit,
// and caps the streams one caller may have open at once.
func rateLimitStream(l *callerLimiter, svc *broker.Service) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != v1.BrokerService_WatchConnectionParams_FullMethodName {
			return handler(srv, ss)
		}
		key := callerKey(ss.Context())
		release, err := l.acquire(classWatch, key, 0, nil, errWatchStreams)
		if err != nil {
			svc.RateLimited(ss.Context(), "", err)
			return toStatus(err)
		}
		defer release()
		if _, err := l.acquire(classIssue, key, 1, errIssueRate, nil); err != nil {
			svc.RateLimited(ss.Context(), "", err)
			return toStatus(err)
		}
		return handler(srv, ss)
	}
}
