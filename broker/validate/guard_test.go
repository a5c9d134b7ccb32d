package validate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/dbtls"
	"github.com/connbroker/connbroker/broker/validate"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

// TestGuardKeepsHonestLogins: through the guard (modes that do not verify)
// scramble logins and an explicitly configured plugin still work, over the
// driver's TLS too; only the steps that would reveal the password are cut.
func TestGuardKeepsHonestLogins(t *testing.T) {
	cfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	accounts := []mysql8test.Account{
		{User: "sha2", Password: "sha2-secret-pw-1", Plugin: mysql8test.PluginCachingSHA2},
		{User: "native", Password: "native-secret-pw", Plugin: mysql8test.PluginNative},
		{User: "sha256", Password: "sha256-secret-pw", Plugin: mysql8test.PluginSHA256},
	}
	srv := mysql8test.StartForTest(t, mysql8test.Options{TLS: cfg, CAPEM: caPEM, Accounts: accounts, DefaultPlugin: mysql8test.PluginCachingSHA2})
	v := validate.New(2)
	tests := []struct {
		name     string
		user, pw string
		mode     config.TLSMode
		plugin   string
		flush    bool
		ok       bool
	}{
		{"native, tls required", "native", "native-secret-pw", config.TLSRequired, "", false, true},
		{"native, tls disabled", "native", "native-secret-pw", config.TLSDisabled, "", false, true},
		{"caching_sha2 full auth, tls disabled, plugin configured: RSA allowed", "sha2", "sha2-secret-pw-1", config.TLSDisabled, "caching_sha2_password", true, true},
		{"caching_sha2 fast auth, tls required", "sha2", "sha2-secret-pw-1", config.TLSRequired, "", false, true},
		{"caching_sha2 full auth, tls required, no plugin: withheld", "sha2", "sha2-secret-pw-1", config.TLSRequired, "", true, false},
		{"sha256, tls preferred, no plugin: withheld", "sha256", "sha256-secret-pw", config.TLSPreferred, "", false, false},
		{"sha256, tls preferred, plugin configured", "sha256", "sha256-secret-pw", config.TLSPreferred, "sha256_password", false, true},
		{"caching_sha2 full auth, verify-identity: no guard", "sha2", "sha2-secret-pw-1", config.TLSVerifyIdentity, "", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.flush {
				srv.InvalidateCache()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			res := v.Validate(ctx, validate.Target{Endpoint: "db", Addr: srv.Addr, User: tc.user, Secret: credential.NewSecret(tc.pw),
				TLSMode: tc.mode, CAPEM: caPEM, ServerName: "localhost", Plugin: tc.plugin, Timeout: 5 * time.Second})
			if res.OK != tc.ok {
				t.Fatalf("ok = %t, want %t: %s %+v", res.OK, tc.ok, res.Reason, res.Stages)
			}
			if strings.Contains(res.Reason, tc.pw) {
				t.Fatal("the reason holds the password")
			}
			if !tc.ok && !strings.Contains(res.Reason, "did not send the secret") {
				t.Errorf("reason = %q", res.Reason)
			}
			if tc.ok && tc.mode != config.TLSDisabled && res.TLSVersion == "" {
				t.Errorf("no TLS version reported: %+v", res)
			}
			// The same login twice with one request's sessions: the second
			// resumes the first's TLS session, and the guard (or the
			// verify-identity login) decides as on a full handshake: the
			// withheld secret stays withheld.
			sessions := dbtls.NewSessions()
			for i := range 2 {
				r := v.Validate(ctx, validate.Target{Endpoint: "db", Addr: srv.Addr, User: tc.user, Secret: credential.NewSecret(tc.pw),
					TLSMode: tc.mode, CAPEM: caPEM, ServerName: "localhost", Plugin: tc.plugin, Timeout: 5 * time.Second, Sessions: sessions})
				if r.OK != tc.ok || (!tc.ok && !strings.Contains(r.Reason, "did not send the secret")) {
					t.Fatalf("with sessions, login %d: ok = %t, reason %q; want ok %t as without", i, r.OK, r.Reason, tc.ok)
				}
				if want := i == 1 && tc.mode != config.TLSDisabled; r.TLSResumed != want {
					t.Errorf("with sessions, login %d: resumed %t, want %t", i, r.TLSResumed, want)
				}
			}
		})
	}
}
