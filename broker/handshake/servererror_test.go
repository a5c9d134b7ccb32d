package handshake

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
)

func TestDriverServerError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want *ServerError
	}{
		{"none", errors.New("dial tcp: refused"), nil},
		{"nil", nil, nil},
		{"access denied", fmt.Errorf("connect: %w", &mysql.MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}, Message: "Access denied"}),
			&ServerError{Code: 1045, SQLState: "28000", Message: "Access denied"}},
		{"no sqlstate marker", &mysql.MySQLError{Number: 1158, Message: "Got an error reading communication packets"},
			&ServerError{Code: 1158, Message: "Got an error reading communication packets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, DriverServerError(tc.err)); diff != "" {
				t.Errorf("DriverServerError (-want +got):\n%s", diff)
			}
		})
	}
}
