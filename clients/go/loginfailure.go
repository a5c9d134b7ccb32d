package connbroker

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Server error numbers of a refused login: ER_ACCESS_DENIED_ERROR and
// ER_ACCESS_DENIED_NO_PASSWORD_ERROR (MariaDB's for unix_socket/PAM accounts).
const (
	errAccessDenied           = 1045
	errAccessDeniedNoPassword = 1698
)

// reportDenied handles a login error: for 1045/1698 it drops the kept
// params (they were refused), reports the failure to the broker and
// returns true when the broker took the report, so the caller retries
// once with fresh params. Any other error, or a broker that does not
// answer, returns false (the login's error stands).
func (c *connector) reportDenied(ctx context.Context, loginErr error) bool {
	var me *mysql.MySQLError
	if !errors.As(loginErr, &me) || (me.Number != errAccessDenied && me.Number != errAccessDeniedNoPassword) {
		return false
	}
	if c.kept != nil {
		c.kept.forget(keptKey{c.endpoint, Driver})
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err := c.client.ReportLoginFailure(cctx, &v1.ReportLoginFailureRequest{Endpoint: c.endpoint, Driver: Driver, MysqlErrno: uint32(me.Number)})
	return err == nil
}
