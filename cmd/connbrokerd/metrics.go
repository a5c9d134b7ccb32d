package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/server/metrics"
)

// serveMetrics starts the /metrics listener when the config asks for one
// and returns a function that shuts it down (a no-op stop when metrics are
// off). It serves m alone; serveMetricsWith serves any handler (run gives
// it /metrics and the fleet page at /ui/). With tls configured it serves HTTPS with the server certificate;
// with tls.client_ca (mTLS) it also requires a client certificate from that
// CA, as the gRPC listener does: metrics name every endpoint, so a scraper
// needs a certificate too.
func serveMetrics(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	return serveMetricsWith(cfg, m.Handler(), log)
}

// metricsRoutes serves /metrics from m and, when fleet is not nil, the
// fleet page at /ui/ (package server/ui: its own identity checks and
// security headers).
func metricsRoutes(m *metrics.Metrics, fleet http.Handler) http.Handler {
	if fleet == nil {
		return m.Handler()
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.Handle("/ui/", fleet)
	mux.Handle("/ui", fleet)
	return mux
}

// serveMetricsWith is serveMetrics serving h.
func serveMetricsWith(cfg *config.Config, h http.Handler, log *slog.Logger) (stop func(), err error) {
	if !cfg.Metrics.Enabled() {
		return func() {}, nil
	}
	lis, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", cfg.Metrics.Listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	useTLS := cfg.TLS.Enabled()
	if useTLS {
		tc, err := serverTLS(cfg.TLS)
		if err != nil {
			lis.Close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
		srv.TLSConfig = tc
	}
	log.Info("metrics serving", "addr", lis.Addr().String(), "path", "/metrics", "fleet_page", "/ui/", "tls", useTLS, "client_cert_required", useTLS && cfg.TLS.ClientCA != "")
	go func() {
		var err error
		if useTLS {
			err = srv.ServeTLS(lis, "", "")
		} else {
			err = srv.Serve(lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
