package validate

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/go-sql-driver/mysql"
)

// This file classifies the driver's errors by their types, never by their
// text: the explanation in plain words is broker/diagnose's job.

// IsTLSFailure reports whether err is a failed TLS upgrade: a certificate
// that did not verify, a TLS alert or record error, or a server without
// TLS when TLS was required.
func IsTLSFailure(err error) bool {
	var (
		cve    *tls.CertificateVerificationError
		unk    x509.UnknownAuthorityError
		host   x509.HostnameError
		inv    x509.CertificateInvalidError
		alert  tls.AlertError
		record tls.RecordHeaderError
	)
	return errors.Is(err, mysql.ErrNoTLS) || errors.As(err, &cve) || errors.As(err, &unk) || errors.As(err, &host) ||
		errors.As(err, &inv) || errors.As(err, &alert) || errors.As(err, &record)
}
