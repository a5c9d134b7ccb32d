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

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// errRateLimited means a caller asked for credentials faster than
// limits.issue_rate allows. Retry after a short back-off.
var errRateLimited = errors.New("too many credential requests from this caller; slow down (limits.issue_rate)")

// limiterIdle is how long an unused per-caller limiter is kept.
const limiterIdle = 10 * time.Minute

// issueLimiter holds one token bucket per caller.
type issueLimiter struct {
	limits func() config.Limits
	now    func() time.Time

	mu      sync.Mutex
	current config.Limits
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newIssueLimiter(limits func() config.Limits) *issueLimiter {
	return &issueLimiter{limits: limits, now: time.Now, buckets: map[string]*bucket{}}
}

// callerKey is the caller identity or, without one, the peer IP address.
func callerKey(ctx context.Context) string {
	if id, ok := caller.FromContext(ctx); ok {
		return "id:" + id.Name
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return "ip:" + host
		}
		return "addr:" + p.Addr.Network()
	}
	return "unknown"
}

// allow takes one token from the caller's bucket.
func (l *issueLimiter) allow(key string) bool {
	lim := l.limits()
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim != l.current { // a reload changed the limits: start afresh
		l.current, l.buckets = lim, map[string]*bucket{}
	}
	l.calls++
	if l.calls%1024 == 0 {
		for k, b := range l.buckets {
			if now.Sub(b.last) > limiterIdle {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.IssueRate), lim.IssueBurst)}
		l.buckets[key] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// rateLimitUnary refuses GetConnectionParams with RESOURCE_EXHAUSTED when
// the caller exceeds its issuance rate. Other unary RPCs are not limited
// here (validations have their own concurrency cap).
func rateLimitUnary(l *issueLimiter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == v1.BrokerService_GetConnectionParams_FullMethodName && !l.allow(callerKey(ctx)) {
			return nil, toStatus(errRateLimited)
		}
		return handler(ctx, req)
	}
}

// rateLimitStream counts each WatchConnectionParams stream opened against
// the caller's issuance rate, so opening streams cannot bypass the limit.
func rateLimitStream(l *issueLimiter) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod == v1.BrokerService_WatchConnectionParams_FullMethodName && !l.allow(callerKey(ss.Context())) {
			return toStatus(errRateLimited)
		}
		return handler(srv, ss)
	}
}
