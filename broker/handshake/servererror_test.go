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

// TestServerPlugins pins the one classification of account plugins that
// broker/resolve and broker/diagnose share: PAM counts as clear text in
// both of its spellings (MariaDB's pam, Percona's auth_pam).
func TestServerPlugins(t *testing.T) {
	for _, tc := range []struct {
		server, client string
		clear          bool
	}{
		{ServerPluginRDSIAM, PluginClearPassword, true},
		{ServerPluginPAM, PluginClearPassword, true},
		{ServerPluginAuthPAM, PluginClearPassword, true},
		{PluginClearPassword, PluginClearPassword, true},
		{ServerPluginEd25519, PluginEd25519, false},
		{PluginNative, PluginNative, false},
		{PluginCachingSHA2, PluginCachingSHA2, false},
		{"", "", false},
	} {
		if got := ClearTextServerPlugin(tc.server); got != tc.clear {
			t.Errorf("ClearTextServerPlugin(%q) = %v, want %v", tc.server, got, tc.clear)
		}
		if got := ClientPluginFor(tc.server); got != tc.client {
			t.Errorf("ClientPluginFor(%q) = %q, want %q", tc.server, got, tc.client)
		}
	}
}
