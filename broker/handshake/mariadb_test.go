package handshake_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/handshake"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
)

// TestProbeMariaDB runs the prober against a real private MariaDB 10.11
// (started here; the test fails when it cannot start): native, ed25519,
// REQUIRE SSL and the PAM account that verifies real SigV4 IAM tokens.
func TestProbeMariaDB(t *testing.T) {
	iam := &mariadbtest.IAMOptions{AccessKeyID: "AKIDHANDSHAKETEST001", SecretAccessKey: "handshake-test-secret-key-01", Region: "us-east-1"}
	s := mariadbtest.StartForTest(t, mariadbtest.Options{IAM: iam})
	if !s.IAMEnabled {
		t.Fatalf("the PAM IAM account is needed (run as root): %s", s.IAMDisabledReason)
	}
	token := signToken(t, s.Addr, iam, mariadbtest.IAMUser)
	tlsCfg := s.TLSConfig()
	tests := []struct {
		name    string
		user    string
		secret  string
		tls     bool
		profile handshake.Profile
		want    []handshake.Kind
		result  handshake.Result
		code    uint16
	}{
		{"ed25519 with the mariadb CLI", mariadbtest.Ed25519User, mariadbtest.Ed25519Password, false, handshake.MariaDBCLI(),
			[]handshake.Kind{handshake.KindTLSPreferred, kTLS, kResp, kSwitch, kAuth, kOK, kOut}, handshake.ResultOK, 0},
		{"ed25519 with PyMySQL without pynacl", mariadbtest.Ed25519User, mariadbtest.Ed25519Password, false, sslDisabled(handshake.PyMySQL(true, false)),
			[]handshake.Kind{kResp, kSwitch, kStop, kOut}, handshake.ResultStopped, 0},
		{"native with go-sql-driver", mariadbtest.NativeUser, mariadbtest.NativePassword, false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kOK, kOut}, handshake.ResultOK, 0},
		{"REQUIRE SSL account over plain TCP", mariadbtest.TLSUser, mariadbtest.TLSPassword, false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kERR, kOut}, handshake.ResultServerError, 1045},
		{"REQUIRE SSL account over TLS", mariadbtest.TLSUser, mariadbtest.TLSPassword, true, handshake.GoSQLDriver(false),
			[]handshake.Kind{kTLS, kResp, kOK, kOut}, handshake.ResultOK, 0},
		{"PAM IAM account, real token over TLS", mariadbtest.IAMUser, token, true, handshake.GoSQLDriver(true),
			[]handshake.Kind{kTLS, kResp, kSwitch, kAuth, kOK, kOut}, handshake.ResultOK, 0},
		{"PAM IAM account without the clear-text opt-in", mariadbtest.IAMUser, token, true, handshake.GoSQLDriver(false),
			[]handshake.Kind{kTLS, kResp, kSwitch, kStop, kOut}, handshake.ResultStopped, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := handshake.Target{Addr: s.Addr, User: tc.user, Secret: tc.secret, Profile: tc.profile}
			if tc.tls {
				tgt.TLS = tlsCfg
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			tr, _ := (&handshake.Probe{}).Run(ctx, tgt)
			if strings.Contains(tr.String(), tc.secret) {
				t.Fatal("transcript leaks the secret")
			}
			t.Logf("transcript:\n%s", tr)
			if diff := cmp.Diff(tc.want, authKinds(tr)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tr.Outcome.Result != tc.result {
				t.Errorf("result = %s, want %s", tr.Outcome.Result, tc.result)
			}
			if tc.code != 0 && (tr.Outcome.Server == nil || tr.Outcome.Server.Code != tc.code) {
				t.Errorf("server error = %v, want %d", tr.Outcome.Server, tc.code)
			}
		})
	}
}

// signToken signs an RDS IAM token as auth.BuildAuthToken does.
func signToken(t *testing.T, endpoint string, o *mariadbtest.IAMOptions, user string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+endpoint+"/?Action=connect&DBUser="+url.QueryEscape(user)+"&X-Amz-Expires=900", nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey},
		req, hex.EncodeToString(empty[:]), "rds-db", o.Region, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u, "https://")
}
