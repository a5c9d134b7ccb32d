package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/server/metrics"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "connbroker-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestMetricsListener checks the listener's transport: plain HTTP without
// server TLS, HTTPS with the broker's certificate when TLS is configured,
// and nothing when metrics are off.
func TestMetricsListener(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	for _, tt := range []struct {
		name   string
		tls    config.ServerTLS
		listen bool
	}{
		{"off", config.ServerTLS{}, false},
		{"plain http on loopback", config.ServerTLS{}, true},
		{"https with the server certificate", config.ServerTLS{Cert: certFile, Key: keyFile}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{TLS: tt.tls}
			if tt.listen {
				cfg.Metrics.Listen = freeAddr(t)
			}
			stop, err := serveMetrics(cfg, metrics.New(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if !tt.listen {
				return
			}
			scheme := "http"
			client := &http.Client{Timeout: 5 * time.Second}
			if tt.tls.Enabled() {
				scheme = "https"
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
				// Plain HTTP to the TLS listener must not get metrics.
				if resp, err := http.Get("http://" + cfg.Metrics.Listen + "/metrics"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						t.Error("plain HTTP got metrics from the TLS listener")
					}
				}
			}
			resp, err := client.Get(scheme + "://" + cfg.Metrics.Listen + "/metrics")
			if err != nil {
				t.Fatalf("scrape: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "connbroker_config_reloads_total") {
				t.Errorf("scrape: %s\n%.300s", resp.Status, body)
			}
			if r, err := client.Post(scheme+"://"+cfg.Metrics.Listen+"/metrics", "text/plain", nil); err == nil {
				r.Body.Close()
				if r.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("POST /metrics: %s, want 405", r.Status)
				}
			}
		})
	}
}
