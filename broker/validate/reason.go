package validate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// dialReason explains a failed TCP connect.
func dialReason(err error, addr string) string {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return fmt.Sprintf("could not connect to %s", addr)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host name in %s does not resolve (DNS): %v", addr, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection to %s was refused: nothing listens there, or a firewall rejects it", addr)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("connecting to %s timed out: the host is unreachable or a firewall drops the packets", addr)
	}
	return fmt.Sprintf("could not connect to %s: %v", addr, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tlsReason explains a failed TLS upgrade.
func tlsReason(err error) string {
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.Is(err, mysql.ErrNoTLS):
		return "TLS is required for this endpoint but the server does not offer it"
	case errors.As(err, &unk):
		return "the server's certificate is not signed by the configured CA (check tls.ca: an RDS Proxy chains to the Amazon roots, not the RDS bundle): " + err.Error()
	case errors.As(err, &host):
		return "the server's certificate does not name the host connected to (check tls.server_name, and never use a CNAME for IAM): " + err.Error()
	case errors.As(err, &inv):
		return "the server's certificate is invalid: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out during the greeting or TLS handshake"
	}
	return "TLS handshake failed: " + err.Error()
}

// authReason explains a failed login, with the server's error when there is one.
func authReason(err error, t Target) (string, *MySQLError) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		e := &MySQLError{Number: me.Number, SQLState: string(me.SQLState[:]), Message: me.Message}
		if e.SQLState == "\x00\x00\x00\x00\x00" {
			e.SQLState = ""
		}
		return mysqlReason(e, t), e
	}
	switch {
	case errors.Is(err, mysql.ErrCleartextPassword):
		return "the server asked for the clear-text plugin (mysql_clear_password) and the driver was not allowed to send it: set allowCleartextPasswords=true, over verified TLS", nil
	case errors.Is(err, mysql.ErrNativePassword):
		return "the server asked for mysql_native_password and the driver had it disabled", nil
	case errors.Is(err, mysql.ErrNoTLS):
		return "TLS is required for this endpoint but the server does not offer it", nil
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out during authentication (the server did not answer in time)", nil
	case strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "tls:"):
		return tlsReason(err), nil
	case errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, mysql.ErrMalformPkt):
		return "the server closed the connection or sent something that is not MySQL protocol during the handshake", nil
	}
	return "login failed: " + err.Error(), nil
}

func mysqlReason(e *MySQLError, t Target) string {
	switch e.Number {
	case 1045:
		if t.IAM {
			return fmt.Sprintf("access denied for %q with an IAM token: the token was refused (expired, signed for another host, port or region, the IAM policy lacks rds-db:connect for this user, or the account is not IAM-enabled)", t.User)
		}
		return fmt.Sprintf("access denied for %q: wrong password, an account that needs another method (e.g. IAM or TLS), or a host pattern that does not match", t.User)
	case 1044:
		return fmt.Sprintf("logged in as %q but not allowed to use database %q", t.User, t.Database)
	case 1049:
		return fmt.Sprintf("database %q does not exist on the server", t.Database)
	case 1251:
		return "the server needs an authentication plugin this client does not support"
	case 1524:
		return "the account's authentication plugin is not loaded on the server (e.g. AWSAuthenticationPlugin outside RDS)"
	case 1129, 1130:
		return "the server refuses connections from this host: " + e.Message
	case 1040:
		return "the server has too many connections"
	}
	return fmt.Sprintf("the server refused: %s", e.Message)
}
