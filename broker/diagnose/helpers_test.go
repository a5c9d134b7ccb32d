package diagnose_test

import (
	"crypto/x509"
	"testing"

	"github.com/connbroker/connbroker/broker/handshake"
)

// sslDisabled is p with its default TLS upgrade off (PyMySQL
// ssl_disabled=True).
func sslDisabled(p handshake.Profile) handshake.Profile {
	p.PrefersTLS = false
	return p
}

func mustPool(t *testing.T, pem []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA PEM")
	}
	return p
}
