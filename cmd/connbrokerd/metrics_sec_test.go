package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/internal/testpki"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"github.com/connbroker/connbroker/server/metrics"
)

// TestMetricsRequireClientCertUnderMTLS: with tls.client_ca the metrics
// listener, like the gRPC one, serves only clients with a certificate from
// that CA (metrics name every endpoint); with server TLS alone it needs
// none.
func TestMetricsRequireClientCertUnderMTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "metrics CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	other := testpki.NewCA(t, "another CA")
	get := func(cfg *config.Config, cert *tls.Certificate) (int, error) {
		tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Get("https://" + cfg.Metrics.Listen + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	scraper := ca.TLSCert(t, testpki.Leaf{CommonName: "prometheus", URIs: []string{"spiffe://prod/ns/monitoring/sa/prometheus"}})
	stranger := other.TLSCert(t, testpki.Leaf{CommonName: "x", URIs: []string{"spiffe://prod/ns/x/sa/y"}})
	for _, tt := range []struct {
		name     string
		clientCA string
		cert     *tls.Certificate
		ok       bool
	}{
		{"mtls, no client certificate", ca.WriteCA(t, dir, "clients"), nil, false},
		{"mtls, certificate of another CA", ca.WriteCA(t, dir, "clients"), &stranger, false},
		{"mtls, certificate of the client CA", ca.WriteCA(t, dir, "clients"), &scraper, true},
		{"server tls only, no client certificate", "", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{TLS: config.ServerTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: tt.clientCA}, Metrics: config.Metrics{Listen: freeAddr(t)}}
			stop, err := serveMetrics(cfg, metrics.New(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			code, err := get(cfg, tt.cert)
			if ok := err == nil && code == http.StatusOK; ok != tt.ok {
				t.Errorf("scrape: %d %v, want ok=%v", code, err, tt.ok)
			}
		})
	}
}

// TestWatchPollsAreNotIssues: connbroker_credentials_issued_total counts
// the credentials a watch sends (the first, then each rotation), not the
// polls in between.
func TestWatchPollsAreNotIssues(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("watch-first"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, maddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`listen: %s
metrics: {listen: %q}
watch: {poll: 100ms}
endpoints:
  db:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, addr, maddr, pw))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() { _, _, e := daemon(ctx, "--dev", "--config", cfg); done <- e }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var w grpc.ServerStreamingClient[v1.WatchConnectionParamsResponse]
	waitFor(t, "a watch", 15*time.Second, func() bool {
		w, err = v1.NewBrokerServiceClient(conn).WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: "db"})
		if err == nil {
			_, err = w.Recv()
		}
		return err == nil
	})
	issued := func() float64 {
		return scrape(t, "http://"+maddr+"/metrics")[`connbroker_credentials_issued_total{endpoint="db",kind="password"}`]
	}
	time.Sleep(1500 * time.Millisecond) // about 15 polls
	if got := issued(); got != 1 {
		t.Errorf("after the first message and ~15 polls: issued %v, want 1", got)
	}
	// Rotate as a secret volume does (write aside, rename over): a poll
	// never reads a half-written file.
	if err := os.WriteFile(pw+".new", []byte("watch-rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(pw+".new", pw); err != nil {
		t.Fatal(err)
	}
	m, err := w.Recv()
	if err != nil || m.GetReason() != v1.WatchReason_WATCH_REASON_ROTATED {
		t.Fatalf("after rotation: %v %v", m.GetReason(), err)
	}
	if got := issued(); got != 2 {
		t.Errorf("after a rotation: issued %v, want 2", got)
	}
}
