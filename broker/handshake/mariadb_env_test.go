package handshake_test

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/handshake"
)

// TestProbeMariaDBEd25519 runs against a MariaDB given by the environment
// (the MariaDB test harness is owned elsewhere):
//
//	CONNBROKER_MARIADB_ADDR=127.0.0.1:PORT
//	CONNBROKER_MARIADB_ED25519=user:password   (IDENTIFIED VIA ed25519)
//	CONNBROKER_MARIADB_NATIVE=user:password    (IDENTIFIED BY)
func TestProbeMariaDBEd25519(t *testing.T) {
	addr := os.Getenv("CONNBROKER_MARIADB_ADDR")
	if addr == "" {
		t.Skip("CONNBROKER_MARIADB_ADDR not set: no MariaDB peer given")
	}
	tests := []struct {
		env     string
		profile handshake.Profile
		want    []handshake.Kind
		result  handshake.Result
	}{
		{"CONNBROKER_MARIADB_ED25519", handshake.MariaDBCLI(),
			[]handshake.Kind{kResp, kSwitch, kAuth, kOK, kOut}, handshake.ResultOK},
		{"CONNBROKER_MARIADB_ED25519", handshake.PyMySQL(true, false),
			[]handshake.Kind{kResp, kSwitch, kStop, kOut}, handshake.ResultStopped},
		{"CONNBROKER_MARIADB_NATIVE", handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kOK, kOut}, handshake.ResultOK},
	}
	for _, tc := range tests {
		t.Run(tc.env+"/"+tc.profile.Name, func(t *testing.T) {
			cred := os.Getenv(tc.env)
			user, pass, ok := cutColon(cred)
			if !ok {
				t.Skip(tc.env + " not set")
			}
			tr, _ := (&handshake.Probe{}).Run(t.Context(), handshake.Target{Addr: addr, User: user, Secret: pass, Profile: tc.profile})
			t.Logf("transcript:\n%s", tr)
			if diff := cmp.Diff(tc.want, authKinds(tr)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tr.Outcome.Result != tc.result {
				t.Errorf("result = %s, want %s", tr.Outcome.Result, tc.result)
			}
		})
	}
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}
