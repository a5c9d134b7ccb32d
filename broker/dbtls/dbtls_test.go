package dbtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
)

// pki returns a CA PEM and a server certificate for "db.internal" signed by it.
func pki(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "db.internal"}, DNSNames: []string{"db.internal"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsHandshake runs a real TLS handshake over a loopback TCP connection
// (resumingHandshake, sessions_test.go, with a server holding cert).
func tlsHandshake(t *testing.T, cert tls.Certificate, client *tls.Config) error {
	t.Helper()
	_, err := resumingHandshake(t, &tls.Config{Certificates: []tls.Certificate{cert}}, client)
	return err
}

func TestConfigModes(t *testing.T) {
	caPEM, cert := pki(t)
	otherPEM, _ := pki(t)
	tests := []struct {
		name       string
		mode       config.TLSMode
		ca         []byte
		serverName string
		ok         bool
	}{
		{"identity ok", config.TLSVerifyIdentity, caPEM, "db.internal", true},
		{"identity wrong name", config.TLSVerifyIdentity, caPEM, "other.internal", false},
		{"identity wrong CA", config.TLSVerifyIdentity, otherPEM, "db.internal", false},
		{"identity system roots", config.TLSVerifyIdentity, nil, "db.internal", false},
		{"verify-ca ignores the name", config.TLSVerifyCA, caPEM, "other.internal", true},
		{"verify-ca wrong CA", config.TLSVerifyCA, otherPEM, "db.internal", false},
		{"required accepts anything", config.TLSRequired, otherPEM, "whatever", true},
		{"preferred accepts anything", config.TLSPreferred, nil, "whatever", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Config(tt.mode, tt.ca, tt.serverName)
			if err != nil {
				t.Fatal(err)
			}
			err = tlsHandshake(t, cert, c)
			if (err == nil) != tt.ok {
				t.Fatalf("handshake err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	if c, err := Config(config.TLSDisabled, nil, "x"); c != nil || err != nil {
		t.Errorf("disabled: %v %v", c, err)
	}
	if _, err := Config(config.TLSVerifyCA, []byte("not pem"), "x"); !errors.Is(err, ErrNoCertificates) {
		t.Errorf("bad PEM: %v", err)
	}
	if _, err := Config("sometimes", nil, "x"); err == nil {
		t.Error("unknown mode accepted")
	}
	if VersionName(tls.VersionTLS13) != "TLSv1.3" || VersionName(0x9999) != "0x9999" {
		t.Error("VersionName")
	}
}
