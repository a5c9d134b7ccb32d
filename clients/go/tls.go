package connbroker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrNoCertificates means the broker's CA bundle (tls.ca_pem) held no
// usable certificate.
var ErrNoCertificates = errors.New("CA bundle holds no certificate")

// tlsConfig returns the crypto/tls configuration for an endpoint whose hints
// name the driver's custom TLS config: the chain is verified against caPEM
// (the system roots when empty) and, unless chainOnly (the broker's
// verify-ca), the certificate must name serverName. The same meaning as
// MySQL's --ssl-mode=VERIFY_IDENTITY and VERIFY_CA; this module keeps its
// own few lines so that it needs nothing from the broker's module.
func tlsConfig(caPEM []byte, serverName string, chainOnly bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if len(caPEM) > 0 {
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(caPEM) {
			return nil, ErrNoCertificates
		}
	}
	if chainOnly {
		// crypto/tls checks the name unless InsecureSkipVerify: check
		// the chain here instead.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: c.RootCAs, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return fmt.Errorf("verify server certificate chain: %w", err)
			}
			return nil
		}
	}
	return c, nil
}
