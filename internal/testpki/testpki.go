// Package testpki makes throw-away certificate authorities and leaf
// certificates (server and client, with DNS/IP/URI SANs) for tests of the
// broker's TLS and mTLS identities.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a throw-away certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate in PEM.
	PEM []byte
}

// NewCA returns a fresh CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := must(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der := must(t, func() ([]byte, error) { return x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key) })
	cert := must(t, func() (*x509.Certificate, error) { return x509.ParseCertificate(der) })
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName is the subject CN (never used as an identity).
	CommonName string
	// DNS are DNS SANs.
	DNS []string
	// IPs are IP SANs.
	IPs []net.IP
	// URIs are URI SANs, e.g. SPIFFE IDs.
	URIs []string
	// Server marks a server certificate (else a client certificate).
	Server bool
	// NotAfter is when the certificate expires; zero means in 24 hours.
	NotAfter time.Time
}

// Issue returns a PEM certificate and PEM private key for l signed by ca.
func (ca *CA) Issue(t testing.TB, l Leaf) (certPEM, keyPEM []byte) {
	t.Helper()
	key := must(t, func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: l.CommonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
	}
	if !l.NotAfter.IsZero() {
		tmpl.NotAfter = l.NotAfter
	}
	if l.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, u := range l.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("testpki: uri %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der := must(t, func() ([]byte, error) {
		return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	})
	kder := must(t, func() ([]byte, error) { return x509.MarshalECPrivateKey(key) })
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TLSCert returns l issued by ca as a tls.Certificate.
func (ca *CA) TLSCert(t testing.TB, l Leaf) tls.Certificate {
	t.Helper()
	c, k := ca.Issue(t, l)
	return must(t, func() (tls.Certificate, error) { return tls.X509KeyPair(c, k) })
}

// Files are PEM files written by WriteFiles.
type Files struct {
	// Cert, Key are the leaf certificate and key files.
	Cert, Key string
}

// WriteCA writes the CA certificate to dir/name-ca.pem and returns the path.
func (ca *CA) WriteCA(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+"-ca.pem")
	if err := os.WriteFile(p, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteFiles issues l and writes dir/name.pem and dir/name-key.pem (0600).
func (ca *CA) WriteFiles(t testing.TB, dir, name string, l Leaf) Files {
	t.Helper()
	c, k := ca.Issue(t, l)
	f := Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := os.WriteFile(f.Cert, c, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Key, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Pool returns a cert pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// LoopbackServer is the Leaf of a server certificate for 127.0.0.1 and
// localhost.
func LoopbackServer() Leaf {
	return Leaf{CommonName: "connbrokerd", DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func must[T any](t testing.TB, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return v
}
