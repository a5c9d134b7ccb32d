// Package metrics is the broker's Prometheus instrumentation: gRPC call
// counts and latency histograms by method and code (go-grpc-middleware's
// Prometheus provider), the domain counters fed by the broker's event
// stream (Metrics is an [observe.Sink]: subscribe it with
// broker.Service.Subscribe and credential.WithSink), Go and process
// collectors, and the HTTP handler for GET /metrics.
//
// Every series is prefixed connbroker_ (domain) or grpc_server_ (RPCs).
// Labels are endpoint names, methods, codes and fixed words: never a user
// name, a host's credential or a secret.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker/observe"
)

// LatencyBuckets are the gRPC handling-time histogram buckets, in seconds:
// 50us to 10s, since a cached GetConnectionParams takes well under 1ms and
// a ValidateConnection takes tens of milliseconds to seconds.
var LatencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics holds the registry and every collector. It implements
// observe.Sink (and observe.Recorder, which its Observe feeds). Create it
// with New.
type Metrics struct {
	// Registry holds every collector below plus the Go and process ones.
	Registry *prometheus.Registry
	// GRPC counts and times the RPCs; install its interceptors with
	// ServerOptions and pre-create its series with GRPC.InitializeMetrics.
	GRPC *grpcprom.ServerMetrics
	// AuditWriteErrors counts audit events that could not be written
	// (connbroker_audit_write_errors_total); give it to the Auditor.
	AuditWriteErrors prometheus.Counter

	credentials   pairCounters
	tokenCache    pairCounters
	refreshErrors *prometheus.CounterVec
	validations   *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	expiry        *expiryCollector
	events        observe.Sink     // observe.FromRecorder(m)
	inv           inventoryMetrics // inventory.go
}

var (
	_ observe.Recorder = (*Metrics)(nil)
	_ observe.Sink     = (*Metrics)(nil)
)

// New returns Metrics registered in a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		GRPC: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets(LatencyBuckets))),
		credentials: pairCounters{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_credentials_issued_total",
			Help: "Credentials handed out by GetConnectionParams, by endpoint and kind (iam-token, password).",
		}, []string{"endpoint", "kind"})},
		tokenCache: pairCounters{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_token_cache_requests_total",
			Help: "IAM token cache lookups by endpoint and result: hit (fresh token served), miss (signed a new one), stale (signing failed, a still valid cached token was served).",
		}, []string{"endpoint", "result"})},
		refreshErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_token_refresh_errors_total",
			Help: "Failed IAM token signings (the AWS credential source failed), by endpoint.",
		}, []string{"endpoint"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_validations_total",
			Help: "Endpoint validations (real logins) by endpoint, outcome (ok, failed) and finding (the first failed stage: credential, dial, tls, auth, query; none when ok).",
		}, []string{"endpoint", "outcome", "finding"}),
		AuditWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "connbroker_audit_write_errors_total",
			Help: "Audit events that could not be written (disk full, file gone). With audit.on_error: deny, each one refused a call.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: applied, or rejected (the old config is kept).",
		}, []string{"result"}),
		expiry: &expiryCollector{
			now: time.Now,
			at:  make(map[string]time.Time),
			desc: prometheus.NewDesc("connbroker_token_expiry_seconds",
				"Seconds until the IAM token cached for the endpoint expires (negative once expired).",
				[]string{"endpoint"}, nil),
		},
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.GRPC, m.credentials.vec, m.tokenCache.vec, m.refreshErrors, m.validations, m.reloads, m.expiry, m.AuditWriteErrors,
	)
	for _, r := range []string{"applied", "rejected"} {
		m.reloads.WithLabelValues(r)
	}
	m.events = observe.FromRecorder(m)
	return m
}

// Observe implements observe.Sink: it counts credentials issued, IAM
// token cache activity, validations that ran a login and reloads. It
// never refuses an event.
func (m *Metrics) Observe(ctx context.Context, e observe.Event) error {
	return m.events.Observe(ctx, e)
}

// ServerOptions returns the interceptors that count and time every RPC.
// grpc.ChainUnaryInterceptor options add up, so these go after the
// server's own interceptors.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(m.GRPC.StreamServerInterceptor()),
	}
}

// Handler serves the registry in the Prometheus text and OpenMetrics formats.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry, EnableOpenMetrics: true}))
	return mux
}

// CredentialIssued implements observe.Recorder.
func (m *Metrics) CredentialIssued(endpoint, kind string) {
	m.credentials.inc(endpoint, kind)
}

// TokenCache implements observe.Recorder.
func (m *Metrics) TokenCache(endpoint, result string) {
	m.tokenCache.inc(endpoint, result)
}

// TokenRefreshError implements observe.Recorder.
func (m *Metrics) TokenRefreshError(endpoint string) {
	m.refreshErrors.WithLabelValues(endpoint).Inc()
}

// TokenExpiry implements observe.Recorder.
func (m *Metrics) TokenExpiry(endpoint string, expiresAt time.Time) {
	m.expiry.set(endpoint, expiresAt)
}

// Validation implements observe.Recorder.
func (m *Metrics) Validation(endpoint string, ok bool, finding string) {
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	if finding == "" {
		finding = "none"
	}
	m.validations.WithLabelValues(endpoint, outcome, finding).Inc()
}

// ConfigReload implements observe.Recorder.
func (m *Metrics) ConfigReload(ok bool) {
	r := "applied"
	if !ok {
		r = "rejected"
	}
	m.reloads.WithLabelValues(r).Inc()
}

// expiryCollector reports time to expiry computed at scrape time, so the
// gauge keeps falling between refreshes instead of freezing at 15 minutes.
type expiryCollector struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu sync.Mutex
	at map[string]time.Time
}

func (c *expiryCollector) set(endpoint string, t time.Time) {
	c.mu.Lock()
	c.at[endpoint] = t
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ep, t := range c.at {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, t.Sub(now).Seconds(), ep)
	}
}

// pairCounters is a CounterVec with two labels whose children are looked up
// once per label pair and then kept: the two counters every
// GetConnectionParams increments cost a map read instead of hashing the
// labels under the vector's lock (BENCHMARKS.md). Children are never
// deleted from these vectors, so a kept one is always the registered one.
type pairCounters struct {
	vec *prometheus.CounterVec
	m   sync.Map // [2]string -> prometheus.Counter
}

func (p *pairCounters) inc(a, b string) {
	k := [2]string{a, b}
	if c, ok := p.m.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c, _ := p.m.LoadOrStore(k, p.vec.WithLabelValues(a, b))
	c.(prometheus.Counter).Inc()
}
