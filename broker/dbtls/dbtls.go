// Package dbtls builds the crypto/tls configuration for a database
// connection from a TLS mode, a CA bundle and a server name, with the same
// meaning as MySQL's --ssl-mode values.
package dbtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
)

// ErrNoCertificates means a CA bundle held no usable certificate.
var ErrNoCertificates = errors.New("CA bundle holds no certificate")

// Config returns the TLS configuration for mode, or nil for disabled.
//
//   - verify-identity: chain verified against caPEM (system roots when
//     empty) and the certificate must name serverName.
//   - verify-ca: chain verified, name not checked.
//   - required, preferred: encrypted, not verified.
func Config(mode config.TLSMode, caPEM []byte, serverName string) (*tls.Config, error) {
	if mode == config.TLSDisabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	var roots *x509.CertPool
	if len(caPEM) > 0 {
		var err error
		if roots, err = rootsFor(caPEM); err != nil { // pool.go: shared
			return nil, err
		}
	}
	switch mode {
	case config.TLSVerifyIdentity:
		c.RootCAs = roots
	case config.TLSVerifyCA:
		// crypto/tls always checks the name unless InsecureSkipVerify, so
		// verify the chain ourselves. RootCAs still carries the roots, so
		// that a derived config (handshake.Profile.TargetTLS, playing a
		// driver that checks the name too) verifies against them and not
		// the system store.
		c.RootCAs = roots
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, roots)
		}
	case config.TLSRequired, config.TLSPreferred:
		c.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", mode)
	}
	return c, nil
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if err := handshake.VerifyPeer(cs.PeerCertificates, x509.VerifyOptions{Roots: roots}); err != nil {
		return fmt.Errorf("verify server certificate chain: %w", err)
	}
	return nil
}

// VersionName returns the IANA-style name of a TLS version, e.g. "TLSv1.3".
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}
