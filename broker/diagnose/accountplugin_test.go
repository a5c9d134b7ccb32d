package diagnose_test

import (
	"testing"

	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
)

// TestAccessDeniedByAccountPlugin: a 1045 for a static password is
// explained by the account's plugin, classified as broker/resolve
// classifies it (handshake.ClearTextServerPlugin): RDS IAM and PAM in both
// spellings (MariaDB's pam, Percona's auth_pam) expect a token.
func TestAccessDeniedByAccountPlugin(t *testing.T) {
	for _, tc := range []struct {
		plugin string
		want   string
	}{
		{handshake.ServerPluginRDSIAM, diagnose.CodeStaticPasswordToIAM},
		{handshake.ServerPluginPAM, diagnose.CodeStaticPasswordToIAM},
		{handshake.ServerPluginAuthPAM, diagnose.CodeStaticPasswordToIAM},
		{handshake.PluginClearPassword, diagnose.CodeStaticPasswordToIAM},
		{handshake.PluginNative, diagnose.CodeAccessDenied},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			tr := &handshake.Transcript{Addr: "127.0.0.1:3306", User: "app", Outcome: handshake.Outcome{
				Result: handshake.ResultServerError,
				Server: &handshake.ServerError{Code: 1045, SQLState: "28000", Message: "Access denied for user 'app'@'localhost'"},
			}}
			got, ok := diagnose.Primary(diagnose.Diagnose(diagnose.Input{Transcript: tr, Host: "127.0.0.1", Port: 3306, AccountPlugin: tc.plugin}))
			if !ok || got.Code != tc.want {
				t.Errorf("account plugin %q: primary finding %+v, want %s", tc.plugin, got, tc.want)
			}
		})
	}
}
