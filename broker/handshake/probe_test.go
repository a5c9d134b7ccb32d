package handshake_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/handshake"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
)

const iamToken = "iam-token-value-7f3e"

var peerAccounts = []mysql8test.Account{
	{User: "sha2", Password: "sha2-secret-pw", Plugin: mysql8test.PluginCachingSHA2},
	{User: "native", Password: "native-secret-pw", Plugin: mysql8test.PluginNative},
	{User: "sha256", Password: "sha256-secret-pw", Plugin: mysql8test.PluginSHA256},
	{User: "iam", Plugin: mysql8test.PluginClearPassword},
}

var secrets = []string{"sha2-secret-pw", "native-secret-pw", "sha256-secret-pw", iamToken, "wrong-secret-pw"}

type peers struct {
	sha2, native, plain *mysql8test.Server
}

func startPeers(t *testing.T) *peers {
	t.Helper()
	cfg, caPEM, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	verify := func(_, secret string, _ bool) error {
		if secret != iamToken {
			return errors.New("bad token")
		}
		return nil
	}
	opts := mysql8test.Options{TLS: cfg, CAPEM: caPEM, Accounts: peerAccounts, ClearPasswordVerifier: verify}
	p := &peers{}
	opts.DefaultPlugin = mysql8test.PluginCachingSHA2
	p.sha2 = mysql8test.StartForTest(t, opts)
	opts.DefaultPlugin = mysql8test.PluginNative
	p.native = mysql8test.StartForTest(t, opts)
	p.plain = mysql8test.StartForTest(t, mysql8test.Options{Accounts: peerAccounts, ClearPasswordVerifier: verify})
	return p
}

// run probes and checks that no secret leaked into the transcript.
func run(t *testing.T, tgt handshake.Target) (*handshake.Transcript, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tr, err := (&handshake.Probe{}).Run(ctx, tgt)
	if tr == nil {
		t.Fatal("nil transcript")
	}
	text := tr.String() + fmt.Sprintf("%+v %#v %v", tr.Events, tgt, tgt)
	if err != nil {
		text += err.Error()
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("transcript leaks the secret %q:\n%s", s, text)
		}
	}
	t.Logf("transcript:\n%s", tr)
	return tr, err
}

// ownPeer lets the probe reveal test secrets to the peer the test started,
// so the driver emulation can be checked to the end; the default (nil) is
// checked in TestProbeWithholdsSecretWithoutVerifiedTLS.
var ownPeer = []string{handshake.AnyPlugin}

// sslDisabled is p with its default TLS upgrade turned off (PyMySQL
// ssl_disabled=True, mariadb --skip-ssl).
func sslDisabled(p handshake.Profile) handshake.Profile {
	p.PrefersTLS = false
	return p
}

// authKinds keeps the kinds that describe the auth exchange.
func authKinds(tr *handshake.Transcript) []handshake.Kind {
	var out []handshake.Kind
	for _, k := range tr.Kinds() {
		switch k {
		case handshake.KindDial, handshake.KindGreeting, handshake.KindSSLRequest, handshake.KindQuit:
			continue
		}
		out = append(out, k)
	}
	return out
}

const (
	kTLS     = handshake.KindTLS
	kResp    = handshake.KindHandshakeResponse
	kSwitch  = handshake.KindAuthSwitchRequest
	kAuth    = handshake.KindAuthResponse
	kFast    = handshake.KindFastAuthSuccess
	kFull    = handshake.KindFullAuthRequired
	kKeyReq  = handshake.KindRSAKeyRequest
	kKeyRecv = handshake.KindRSAKeyReceived
	kOK      = handshake.KindOK
	kERR     = handshake.KindERR
	kStop    = handshake.KindStop
	kWarn    = handshake.KindWarning
	kOut     = handshake.KindOutcome
)

func TestProbeCachingSHA2(t *testing.T) {
	p := startPeers(t)
	s := p.sha2
	tlsCfg := s.ClientTLS("")
	steps := []struct {
		name       string
		invalidate bool
		tls        *tls.Config
		want       []handshake.Kind
	}{
		{"plain TCP first login: full auth with RSA key request", false, nil,
			[]handshake.Kind{kResp, kFull, kKeyReq, kKeyRecv, kAuth, kOK, kOut}},
		{"plain TCP second login: fast auth", false, nil,
			[]handshake.Kind{kResp, kFast, kOK, kOut}},
		{"TLS: fast auth", false, tlsCfg,
			[]handshake.Kind{kTLS, kResp, kFast, kOK, kOut}},
		{"after InvalidateCache, TLS: fast-auth miss, clear text over TLS", true, tlsCfg,
			[]handshake.Kind{kTLS, kResp, kFull, kAuth, kOK, kOut}},
		{"after InvalidateCache, plain TCP: fast-auth miss, RSA", true, nil,
			[]handshake.Kind{kResp, kFull, kKeyReq, kKeyRecv, kAuth, kOK, kOut}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.invalidate {
				s.InvalidateCache()
			}
			tr, err := run(t, handshake.Target{Addr: s.Addr, User: "sha2", Secret: "sha2-secret-pw", Database: "app",
				TLS: st.tls, Profile: handshake.GoSQLDriver(false), RevealWithoutVerifiedTLS: ownPeer})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(st.want, authKinds(tr)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tr.Outcome.Result != handshake.ResultOK || tr.Outcome.Plugin != "caching_sha2_password" || tr.Outcome.TLS != (st.tls != nil) {
				t.Errorf("outcome = %+v", tr.Outcome)
			}
			g, _ := tr.Find(handshake.KindGreeting)
			if g.Fields["plugin"] != "caching_sha2_password" || g.Fields["version"] != mysql8test.DefaultVersion || g.Fields["ssl"] != "true" {
				t.Errorf("greeting fields = %v", g.Fields)
			}
			if st.tls != nil {
				ev, _ := tr.Find(kTLS)
				want := map[string]string{"version": "TLS 1.3", "subject": "CN=localhost,O=connbroker mysql8 peer",
					"issuer": "CN=connbroker test CA,O=connbroker", "verification": "ok", "server_name": "127.0.0.1"}
				for k, v := range want {
					if ev.Fields[k] != v {
						t.Errorf("tls field %s = %q, want %q", k, ev.Fields[k], v)
					}
				}
			}
			if st.invalidate && st.tls == nil {
				if ev, _ := tr.Find(kKeyRecv); ev.Fields["bits"] != "2048" {
					t.Errorf("rsa key event = %v", ev.Fields)
				}
			}
		})
	}
}

func TestProbePlugins(t *testing.T) {
	p := startPeers(t)
	tlsFor := func(s *mysql8test.Server) *tls.Config { return s.ClientTLS("localhost") }
	tests := []struct {
		name    string
		srv     *mysql8test.Server
		user    string
		secret  string
		tls     bool
		profile handshake.Profile
		want    []handshake.Kind
		plugin  string
	}{
		{"native account at caching_sha2 greeting: switch to native", p.sha2, "native", "native-secret-pw", false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kSwitch, kAuth, kOK, kOut}, "mysql_native_password"},
		{"native account at native greeting", p.native, "native", "native-secret-pw", false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kOK, kOut}, "mysql_native_password"},
		{"caching_sha2 account at native greeting: switch, full auth, RSA", p.native, "sha2", "sha2-secret-pw", false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kSwitch, kAuth, kFull, kKeyReq, kKeyRecv, kAuth, kOK, kOut}, "caching_sha2_password"},
		{"sha256 over TLS", p.sha2, "sha256", "sha256-secret-pw", true, handshake.GoSQLDriver(false),
			[]handshake.Kind{kTLS, kResp, kSwitch, kAuth, kOK, kOut}, "sha256_password"},
		{"sha256 over plain TCP: key request", p.sha2, "sha256", "sha256-secret-pw", false, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kSwitch, kAuth, kKeyReq, kKeyRecv, kAuth, kOK, kOut}, "sha256_password"},
		{"libmysqlclient fetches the key for sha256 without --get-server-public-key", p.sha2, "sha256", "sha256-secret-pw", false, handshake.MySQLCLI(false),
			[]handshake.Kind{kResp, kSwitch, kAuth, kKeyReq, kKeyRecv, kAuth, kOK, kOut}, "sha256_password"},
		{"clear password over TLS with opt-in", p.sha2, "iam", iamToken, true, handshake.GoSQLDriver(true),
			[]handshake.Kind{kTLS, kResp, kSwitch, kAuth, kOK, kOut}, "mysql_clear_password"},
		{"clear password over TLS, PyMySQL needs no opt-in", p.native, "iam", iamToken, true, handshake.PyMySQL(false, false),
			[]handshake.Kind{kTLS, kResp, kSwitch, kAuth, kOK, kOut}, "mysql_clear_password"},
		{"MariaDB CLI falls back to plain text when the server lacks TLS", p.plain, "native", "native-secret-pw", true, handshake.MariaDBCLI(),
			[]handshake.Kind{handshake.KindTLSFallback, kResp, kSwitch, kAuth, kOK, kOut}, "mysql_native_password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *tls.Config
			if tc.tls {
				cfg = tlsFor(tc.srv)
				if tc.srv == p.plain {
					cfg = tlsFor(p.sha2)
				}
			}
			tr, err := run(t, handshake.Target{Addr: tc.srv.Addr, User: tc.user, Secret: tc.secret, TLS: cfg, Profile: tc.profile, RevealWithoutVerifiedTLS: ownPeer})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tc.want, authKinds(tr)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tr.Outcome.Plugin != tc.plugin {
				t.Errorf("plugin = %q, want %q", tr.Outcome.Plugin, tc.plugin)
			}
		})
	}
}

func TestProbeFailures(t *testing.T) {
	p := startPeers(t)
	otherTLS, _, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	_ = otherTLS
	wrongCA := (&mysql8test.Server{CAPEM: mustCA(t)}).ClientTLS("localhost")
	tests := []struct {
		name     string
		srv      *mysql8test.Server
		user     string
		secret   string
		tls      *tls.Config
		profile  handshake.Profile
		want     []handshake.Kind
		result   handshake.Result
		code     string // stop code or server error code
		fix      string
		errCheck func(error) bool
	}{
		{"wrong password: ERR 1045 28000", p.sha2, "sha2", "wrong-secret-pw", nil, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kFull, kKeyReq, kKeyRecv, kAuth, kERR, kOut}, handshake.ResultServerError, "1045", "", nil},
		{"unknown user: ERR 1045", p.native, "nobody", "wrong-secret-pw", nil, handshake.GoSQLDriver(false),
			[]handshake.Kind{kResp, kERR, kOut}, handshake.ResultServerError, "1045", "", nil},
		{"go-sql-driver without allowCleartextPasswords", p.sha2, "iam", iamToken, p.sha2.ClientTLS(""), handshake.GoSQLDriver(false),
			[]handshake.Kind{kTLS, kResp, kSwitch, kStop, kOut}, handshake.ResultStopped, handshake.StopClearTextOptInMissing, "allowCleartextPasswords=true (Config.AllowCleartextPasswords)", nil},
		{"mysql2 without enableCleartextPlugin", p.sha2, "iam", iamToken, p.sha2.ClientTLS(""), handshake.MySQL2(false),
			[]handshake.Kind{kTLS, kResp, kSwitch, kStop, kOut}, handshake.ResultStopped, handshake.StopClearTextOptInMissing, "enableCleartextPlugin: true (or authPlugins.mysql_clear_password)", nil},
		{"Connector/J refuses clear text without TLS", p.sha2, "iam", iamToken, nil, handshake.ConnectorJ(true),
			[]handshake.Kind{kResp, kSwitch, kStop, kOut}, handshake.ResultStopped, handshake.StopClearTextWithoutTLS, "enable TLS (verified) for this endpoint", nil},
		{"go-sql-driver sends clear text without TLS; server refuses", p.sha2, "iam", iamToken, nil, handshake.GoSQLDriver(true),
			[]handshake.Kind{kResp, kSwitch, kAuth, kWarn, kERR, kOut}, handshake.ResultServerError, "1045", "", nil},
		{"PyMySQL without cryptography: RSA needed", p.sha2, "sha2", "sha2-secret-pw", nil, sslDisabled(handshake.PyMySQL(false, false)),
			[]handshake.Kind{kResp, kFull, kStop, kOut}, handshake.ResultStopped, handshake.StopRSAUnavailable, "enable TLS, or pip install cryptography", nil},
		{"Connector/J without allowPublicKeyRetrieval", p.sha2, "sha2", "sha2-secret-pw", nil, handshake.ConnectorJ(false),
			[]handshake.Kind{kResp, kFull, kStop, kOut}, handshake.ResultStopped, handshake.StopRSAKeyRetrievalDisabled, "enable TLS, or allowPublicKeyRetrieval=true (or serverRSAPublicKeyFile)", nil},
		{"mysql CLI: caching_sha2 full auth without TLS needs a key", p.sha2, "sha2", "sha2-secret-pw", nil, handshake.MySQLCLI(false),
			[]handshake.Kind{kResp, kFull, kStop, kOut}, handshake.ResultStopped, handshake.StopRSAKeyRetrievalDisabled, "enable TLS, or --get-server-public-key or --server-public-key-path", nil},
		{"Connector/Python pure would leak the password on full auth", p.native, "sha2", "sha2-secret-pw", nil, handshake.ConnectorPythonPure(),
			[]handshake.Kind{kResp, kSwitch, kAuth, kFull, kStop, kOut}, handshake.ResultStopped, handshake.StopFullAuthClearTextWithoutTLS, "enable TLS, or TLS (the pure implementation has no RSA)", nil},
		{"go-sql-driver insists on TLS the server lacks", p.plain, "native", "native-secret-pw", p.sha2.ClientTLS(""), handshake.GoSQLDriver(false),
			[]handshake.Kind{kStop, kOut}, handshake.ResultStopped, handshake.StopServerLacksTLS, "", nil},
		{"TLS with the wrong CA", p.sha2, "sha2", "sha2-secret-pw", wrongCA, handshake.GoSQLDriver(false),
			[]handshake.Kind{kTLS, handshake.KindError, kOut}, handshake.ResultFailed, "", "", func(err error) bool {
				var te *handshake.TLSError
				return errors.As(err, &te) && te.Verify != nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := run(t, handshake.Target{Addr: tc.srv.Addr, User: tc.user, Secret: tc.secret, TLS: tc.tls, Profile: tc.profile, RevealWithoutVerifiedTLS: ownPeer})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if diff := cmp.Diff(tc.want, authKinds(tr)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tr.Outcome.Result != tc.result {
				t.Errorf("result = %s, want %s", tr.Outcome.Result, tc.result)
			}
			var se *handshake.ServerError
			var stop *handshake.StopError
			switch tc.result {
			case handshake.ResultServerError:
				if !errors.As(err, &se) || fmt.Sprint(se.Code) != tc.code || se.SQLState != "28000" {
					t.Errorf("err = %v, want server error %s (28000)", err, tc.code)
				}
				ev, _ := tr.Find(kERR)
				if ev.Fields["code"] != tc.code || ev.Fields["sqlstate"] != "28000" || !strings.Contains(ev.Fields["message"], "Access denied") {
					t.Errorf("ERR event = %v", ev.Fields)
				}
			case handshake.ResultStopped:
				if !errors.As(err, &stop) || stop.Reason.Code != tc.code || stop.Reason.Fix != tc.fix {
					t.Errorf("err = %v (%+v), want stop %s fix %q", err, stop, tc.code, tc.fix)
				}
				if tr.Outcome.Stop == nil || tr.Outcome.Stop.Code != tc.code {
					t.Errorf("outcome stop = %+v", tr.Outcome.Stop)
				}
			}
			if tc.errCheck != nil && !tc.errCheck(err) {
				t.Errorf("err = %v (%T)", err, err)
			}
		})
	}
}

func mustCA(t *testing.T) []byte {
	t.Helper()
	_, ca, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestProbeWrongCARecordsCertificate(t *testing.T) {
	p := startPeers(t)
	wrongCA := (&mysql8test.Server{CAPEM: mustCA(t)}).ClientTLS("localhost")
	tr, _ := run(t, handshake.Target{Addr: p.sha2.Addr, User: "sha2", Secret: "sha2-secret-pw", TLS: wrongCA, Profile: handshake.GoSQLDriver(false)})
	ev, ok := tr.Find(kTLS)
	if !ok {
		t.Fatal("no tls event")
	}
	if ev.Fields["subject"] != "CN=localhost,O=connbroker mysql8 peer" || !strings.HasPrefix(ev.Fields["verification"], "failed: x509: certificate signed by unknown authority") {
		t.Errorf("tls event = %v", ev.Fields)
	}
}

func ExampleProbe_Run() {
	cfg, caPEM, _ := mysql8test.GenerateTLS()
	srv, _ := mysql8test.Start(context.Background(), mysql8test.Options{
		TLS: cfg, CAPEM: caPEM,
		Accounts: []mysql8test.Account{{User: "app", Password: "app-pw", Plugin: mysql8test.PluginNative}},
	})
	defer srv.Close()
	tr, err := (&handshake.Probe{}).Run(context.Background(), handshake.Target{
		Addr: srv.Addr, User: "app", Secret: "app-pw", TLS: srv.ClientTLS("localhost"),
		Profile: handshake.PyMySQL(true, false),
	})
	fmt.Println(err)
	for _, e := range tr.Events {
		fmt.Println(e.Dir, e.Kind)
	}
	// Output:
	// <nil>
	// local dial
	// server greeting
	// client ssl-request
	// local tls
	// client handshake-response
	// server auth-switch-request
	// client auth-response
	// server ok
	// client quit
	// local outcome
}

// TestProbeWithholdsSecretWithoutVerifiedTLS: by default the probe never
// sends a secret in a recoverable form (clear text, or RSA-encrypted to a
// key the server handed out) unless the TLS is verified; it stops where the
// driver would send it, which is itself the prediction.
func TestProbeWithholdsSecretWithoutVerifiedTLS(t *testing.T) {
	p := startPeers(t)
	unverified := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the case under test
	tests := []struct {
		name    string
		srv     *mysql8test.Server
		user    string
		secret  string
		tls     *tls.Config
		profile handshake.Profile
		allow   []string
		want    []handshake.Kind
		plugin  string // the plugin of the stop; empty: the login succeeds
	}{
		{"caching_sha2 full auth, plain TCP: stop after the server's key", p.sha2, "sha2", "sha2-secret-pw", nil, handshake.GoSQLDriver(false), nil,
			[]handshake.Kind{kResp, kFull, kKeyReq, kKeyRecv, kStop, kOut}, handshake.PluginCachingSHA2},
		{"caching_sha2 full auth, unverified TLS: stop before the clear text", p.sha2, "sha2", "sha2-secret-pw", unverified, handshake.GoSQLDriver(false), nil,
			[]handshake.Kind{kTLS, kResp, kFull, kStop, kOut}, handshake.PluginCachingSHA2},
		{"sha256, plain TCP: stop after the server's key", p.sha2, "sha256", "sha256-secret-pw", nil, handshake.GoSQLDriver(false), nil,
			[]handshake.Kind{kResp, kSwitch, kAuth, kKeyReq, kKeyRecv, kStop, kOut}, handshake.PluginSHA256},
		{"sha256, unverified TLS: stop at the switch", p.sha2, "sha256", "sha256-secret-pw", unverified, handshake.GoSQLDriver(false), nil,
			[]handshake.Kind{kTLS, kResp, kSwitch, kStop, kOut}, handshake.PluginSHA256},
		{"clear text, plain TCP (aiomysql goes on without TLS)", p.plain, "iam", iamToken, p.sha2.ClientTLS(""), handshake.AIOMySQL(true), nil,
			[]handshake.Kind{handshake.KindTLSFallback, kResp, kSwitch, kStop, kOut}, handshake.PluginClearPassword},
		{"clear text, TLS upgraded unverified by PREFERRED (mariadb CLI)", p.native, "iam", iamToken, nil, handshake.MariaDBCLI(), nil,
			[]handshake.Kind{handshake.KindTLSPreferred, kTLS, kResp, kSwitch, kStop, kOut}, handshake.PluginClearPassword},
		{"clear text announced in the greeting is not answered with a fallback", p.sha2, "iam", iamToken, unverified, handshake.GoSQLDriver(true), nil,
			[]handshake.Kind{kTLS, kResp, kSwitch, kStop, kOut}, handshake.PluginClearPassword},
		{"the endpoint's plugin is allowed, another is not", p.sha2, "sha256", "sha256-secret-pw", nil, handshake.GoSQLDriver(false), []string{handshake.PluginCachingSHA2},
			[]handshake.Kind{kResp, kSwitch, kAuth, kKeyReq, kKeyRecv, kStop, kOut}, handshake.PluginSHA256},
		{"the endpoint's plugin is allowed: full auth with RSA", p.sha2, "sha2", "sha2-secret-pw", nil, handshake.GoSQLDriver(false), []string{handshake.PluginCachingSHA2},
			nil, ""},
		{"verified TLS: clear text is sent", p.sha2, "iam", iamToken, p.sha2.ClientTLS(""), handshake.GoSQLDriver(true), nil,
			[]handshake.Kind{kTLS, kResp, kSwitch, kAuth, kOK, kOut}, ""},
		{"scramble plugins need no TLS", p.native, "native", "native-secret-pw", nil, handshake.GoSQLDriver(false), nil,
			[]handshake.Kind{kResp, kOK, kOut}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.sha2.InvalidateCache()
			tr, err := run(t, handshake.Target{Addr: tc.srv.Addr, User: tc.user, Secret: tc.secret, TLS: tc.tls, Profile: tc.profile, RevealWithoutVerifiedTLS: tc.allow})
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, authKinds(tr)); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
			if tc.plugin == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var stop *handshake.StopError
			if !errors.As(err, &stop) || stop.Reason.Code != handshake.StopSecretWithoutVerifiedTLS || stop.Reason.Plugin != tc.plugin {
				t.Fatalf("err = %v, want stop %s for %s", err, handshake.StopSecretWithoutVerifiedTLS, tc.plugin)
			}
			if !strings.Contains(stop.Reason.Detail, "would send the secret without verified TLS") || !strings.Contains(stop.Reason.Fix, "verify-identity") {
				t.Errorf("stop = %+v", stop.Reason)
			}
			if tr.Outcome.Result != handshake.ResultStopped {
				t.Errorf("result = %s", tr.Outcome.Result)
			}
		})
	}
}
