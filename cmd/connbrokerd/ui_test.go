package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/internal/testpki"
	"github.com/connbroker/connbroker/server/metrics"
	"github.com/connbroker/connbroker/server/ui"
)

// TestFleetPageOnMTLSMetricsListener serves /metrics and /ui/ on the real
// metrics listener with tls.client_ca: the page needs a client certificate
// (the listener refuses a handshake without one) and lists only what the
// certificate's identity may get; /metrics still serves.
func TestFleetPageOnMTLSMetricsListener(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "fleet CA")
	srv := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	maddr := freeAddr(t)
	cfg, err := config.Parse("fleet", []byte(fmt.Sprintf(`tls: {cert: %s, key: %s, client_ca: %s}
metrics: {listen: %q}
policy:
  - caller: spiffe://test/ns/shop/sa/web
    endpoints: [shop]
endpoints:
  shop: {host: shop.proxy-abc123.us-west-2.rds.amazonaws.com, user: app, auth: iam}
  payroll: {host: payroll.proxy-abc123.us-west-2.rds.amazonaws.com, user: hr, auth: iam}
`, srv.Cert, srv.Key, ca.WriteCA(t, dir, "clients"), maddr)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := broker.New(cfg, &credential.Router{}, log)
	last := ui.NewValidations()
	mx := metrics.New()
	svc.SetRecorder(last.Tee(mx))
	fleet, err := ui.New(ui.Options{Fleet: svc, Validations: last, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := serveMetricsWith(cfg, metricsRoutes(mx, fleet), log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func(uri, path string) (int, string, error) {
		tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		if uri != "" {
			tc.Certificates = []tls.Certificate{ca.TLSCert(t, testpki.Leaf{URIs: []string{uri}})}
		}
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Get("https://" + maddr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	code, body, err := get("spiffe://test/ns/shop/sa/web", "/ui/")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `data-endpoint="shop"`) || strings.Contains(body, "payroll") {
		t.Errorf("shop identity: %d %v; want shop listed and payroll not:\n%.2000s", code, err, body)
	}
	if code, _, err := get("spiffe://test/ns/shop/sa/web", "/ui/endpoints/payroll"); err != nil || code != http.StatusNotFound {
		t.Errorf("shop identity, payroll page: %d %v; want 404", code, err)
	}
	if code, body, err := get("spiffe://test/ns/other/sa/x", "/ui/"); err != nil || code != http.StatusOK || strings.Contains(body, "shop") || strings.Contains(body, "payroll") {
		t.Errorf("identity without a rule: %d %v; want an empty list:\n%.2000s", code, err, body)
	}
	if code, _, err := get("spiffe://test/ns/shop/sa/web", "/metrics"); err != nil || code != http.StatusOK {
		t.Errorf("/metrics beside the page: %d %v", code, err)
	}
	if _, _, err := get("", "/ui/"); err == nil {
		t.Error("a client without a certificate got an answer from the mTLS listener")
	}
}
