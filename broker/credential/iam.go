package credential

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"golang.org/x/sync/singleflight"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/observe"
)

// TokenLifetime is how long RDS accepts an IAM token after signing.
const TokenLifetime = 15 * time.Minute

// DefaultRefreshAfter is how long after signing a cached token is
// replaced, leaving callers at least 5 minutes of validity.
const DefaultRefreshAfter = 10 * time.Minute

// minRemaining is the least validity a stale token must have to be served
// when the credential source fails.
const minRemaining = 30 * time.Second

// staleWait is how long a caller waits for a refresh when a cached token
// is still valid; past it the cached token is served, marked Stale.
const staleWait = 2 * time.Second

// signTimeout bounds one signing, including fetching AWS credentials.
const signTimeout = 5 * time.Second

// TokenBuilder signs an IAM token; auth.BuildAuthToken in production.
type TokenBuilder func(ctx context.Context, endpoint, region, user string, creds aws.CredentialsProvider, optFns ...func(*auth.BuildAuthTokenOptions)) (string, error)

// IAM issues RDS IAM tokens, cached per (host, port, region, user) and
// refreshed with single flight once RefreshAfter has passed. When signing
// fails (e.g. the AWS credential source is down) a cached token that is
// still valid is served, marked Stale.
type IAM struct {
	creds        aws.CredentialsProvider
	build        TokenBuilder
	now          func() time.Time
	refreshAfter time.Duration
	log          *slog.Logger
	events       observe.Sink // nil without WithSink
	roles        func(roleARN string) aws.CredentialsProvider

	mu    sync.RWMutex
	cache map[tokenKey]Credential
	group singleflight.Group
}

type tokenKey struct {
	host   string
	port   int
	region string
	user   string
	role   string // the role assumed to sign, "" for the default credentials
}

// IAMOption configures an IAM issuer.
type IAMOption func(*IAM)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) IAMOption { return func(i *IAM) { i.now = now } }

// WithTokenBuilder replaces auth.BuildAuthToken (tests).
func WithTokenBuilder(b TokenBuilder) IAMOption { return func(i *IAM) { i.build = b } }

// WithRefreshAfter sets how long after signing a token is replaced.
func WithRefreshAfter(d time.Duration) IAMOption { return func(i *IAM) { i.refreshAfter = d } }

// WithRoles makes endpoints with role_arn sign with the credentials
// roles(roleARN) returns (an STS assume-role provider, cached per role).
func WithRoles(roles func(roleARN string) aws.CredentialsProvider) IAMOption {
	return func(i *IAM) { i.roles = roles }
}

// WithLogger sets the logger for stale-token warnings.
func WithLogger(l *slog.Logger) IAMOption { return func(i *IAM) { i.log = l } }

// WithSink emits cache lookups (observe.TokenCache), signed tokens
// (observe.TokenSigned) and failed signings (observe.TokenRefreshFailed)
// to s.
func WithSink(s observe.Sink) IAMOption { return func(i *IAM) { i.events = s } }

// WithRecorder is WithSink(observe.FromRecorder(r)).
func WithRecorder(r observe.Recorder) IAMOption { return WithSink(observe.FromRecorder(r)) }

// NewIAM returns an issuer signing with creds (the AWS default chain in
// production).
func NewIAM(creds aws.CredentialsProvider, opts ...IAMOption) *IAM {
	i := &IAM{
		creds:        creds,
		build:        auth.BuildAuthToken,
		now:          time.Now,
		refreshAfter: DefaultRefreshAfter,
		log:          slog.New(slog.DiscardHandler),
		cache:        make(map[tokenKey]Credential),
	}
	for _, o := range opts {
		o(i)
	}
	return i
}

// cacheResult emits one cache lookup; without a sink it builds no event
// (the cache-hit path stays free of allocations).
func (i *IAM) cacheResult(ctx context.Context, endpoint, result string) {
	if i.events != nil {
		i.events.Observe(ctx, observe.TokenCache{Endpoint: endpoint, Result: result})
	}
}

func (i *IAM) emit(ctx context.Context, e observe.Event) {
	if i.events != nil {
		i.events.Observe(ctx, e)
	}
}

// Issue returns a cached token while it is fresh, else signs a new one.
func (i *IAM) Issue(ctx context.Context, ep *config.Endpoint) (Credential, error) {
	k := tokenKey{host: ep.Host, port: ep.Port, region: ep.Region, user: ep.User, role: ep.RoleARN}
	now := i.now()
	i.mu.RLock()
	c, ok := i.cache[k]
	i.mu.RUnlock()
	if ok && now.Before(c.RefreshAfter) {
		i.cacheResult(ctx, ep.Name, observe.CacheHit)
		c.Cached = true
		return c, nil
	}
	i.cacheResult(ctx, ep.Name, observe.CacheMiss)
	ch := i.group.DoChan(fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s", k.host, k.port, k.region, k.user, k.role), func() (any, error) {
		// The refresh is shared by every waiter, so it must not die with the
		// first caller's context.
		return i.sign(context.WithoutCancel(ctx), k)
	})
	// With a cached token still valid, a hanging credential source must not
	// hold the caller: after staleWait the cached token is served (the
	// refresh goes on in the background and lands in the cache).
	var staleTimer <-chan time.Time
	if ok && now.Add(minRemaining).Before(c.ExpiresAt) {
		t := time.NewTimer(staleWait)
		defer t.Stop()
		staleTimer = t.C
	}
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-staleTimer:
		res.Err = fmt.Errorf("sign IAM token: no answer from the AWS credential source within %s", staleWait)
	case <-ctx.Done():
		return Credential{}, ctx.Err()
	}
	if res.Err == nil {
		nc := res.Val.(Credential)
		i.emit(ctx, observe.TokenSigned{Endpoint: ep.Name, ExpiresAt: nc.ExpiresAt})
		return nc, nil
	}
	i.emit(ctx, observe.TokenRefreshFailed{Endpoint: ep.Name})
	if ok && now.Add(minRemaining).Before(c.ExpiresAt) {
		i.log.WarnContext(ctx, "serving cached IAM token: signing failed", "endpoint", ep.Name, "expires_at", c.ExpiresAt, "err", res.Err)
		c.Stale, c.Cached = true, true
		i.cacheResult(ctx, ep.Name, observe.CacheStale)
		return c, nil
	}
	return Credential{}, &SourceError{Endpoint: ep.Name, Source: "iam", Err: res.Err}
}

func (i *IAM) sign(ctx context.Context, k tokenKey) (Credential, error) {
	creds := i.creds
	if k.role != "" {
		if i.roles == nil {
			return Credential{}, errors.New("endpoint has role_arn but no role provider is configured")
		}
		creds = i.roles(k.role)
	}
	if creds == nil {
		return Credential{}, errors.New("no AWS credentials provider")
	}
	// Bounded so a hanging credential source delays recovery by at most
	// this long once it answers again (callers meanwhile get the cached
	// token after staleWait).
	ctx, cancel := context.WithTimeout(ctx, signTimeout)
	defer cancel()
	before := i.now()
	tok, err := i.build(ctx, fmt.Sprintf("%s:%d", k.host, k.port), k.region, k.user, creds)
	if err != nil {
		return Credential{}, fmt.Errorf("sign IAM token: %w", err)
	}
	signed := signedAt(tok, before)
	c := Credential{
		Kind:         KindIAMToken,
		Secret:       NewSecret(tok),
		ExpiresAt:    signed.Add(TokenLifetime),
		RefreshAfter: signed.Add(i.refreshAfter),
		Source:       "iam",
	}
	i.mu.Lock()
	i.cache[k] = c
	i.mu.Unlock()
	return c, nil
}

// signedAt reads X-Amz-Date from a token, falling back to fallback.
func signedAt(tok string, fallback time.Time) time.Time {
	q := tok
	if i := strings.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return fallback
	}
	t, err := time.Parse("20060102T150405Z", v.Get("X-Amz-Date"))
	if err != nil {
		return fallback
	}
	return t
}
