package diagnose_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	"github.com/connbroker/connbroker/internal/testpeer/rdslike"
)

var update = flag.Bool("update", false, "rewrite docs/transcripts/*.txt from real runs")

// A fake AWS key: the RDS-like peer trusts exactly this one.
const (
	testKeyID  = "AKIDCONNBROKERTEST01"
	testSecret = "connbroker-test-secret-access-key-0001"
	region     = "us-east-1"
	iamUser    = "app_iam"
	sha2User   = "app_sha2"
	sha2Pass   = "sha2-pass-4f1a"
)

// mintToken signs an RDS IAM token exactly as auth.BuildAuthToken does, but
// at a chosen time (BuildAuthToken always signs "now").
func mintToken(t testing.TB, endpoint, region, user string, at time.Time) string {
	t.Helper()
	u := "https://" + endpoint + "/?Action=connect&DBUser=" + url.QueryEscape(user) + "&X-Amz-Expires=900"
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}, req, hex.EncodeToString(empty[:]), "rds-db", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(signed, "https://")
}

func startRDSLike(t *testing.T) *rdslike.Endpoint {
	t.Helper()
	e, err := rdslike.Start(context.Background(), rdslike.Options{Region: region, AccessKeyID: testKeyID, SecretAccessKey: testSecret,
		IAMUsers: []string{iamUser}, Passwords: map[string]string{sha2User: sha2Pass}})
	if err != nil {
		t.Fatalf("start RDS-like peer: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// listen serves every connection with fn on a loopback port.
func listen(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

type blackhole struct{}

// DialContext never connects, like a SYN dropped by a firewall.
func (blackhole) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type tcase struct {
	name     string
	addr     string
	user     string
	secret   string
	tls      *tls.Config
	profile  handshake.Profile
	iam      bool
	host     string // Input.Host; default the addr's host
	port     int    // Input.Port; default the addr's port
	before   func()
	dialer   handshake.Dialer
	want     []string
	wantOK   bool
	fixHas   string // a substring of the first finding's fix
	document string // docs/transcripts/<document>.txt
	reveal   bool   // let the probe reveal the test secret without verified TLS (own peer)
}

func TestFindingsAgainstRealPeers(t *testing.T) {
	e := startRDSLike(t)
	tlsOK := e.ClientTLS("127.0.0.1")
	_, otherCA, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	wrongCA := e.ClientTLS("127.0.0.1")
	wrongCA.RootCAs = mustPool(t, otherCA)
	oldTLS := e.ClientTLS("127.0.0.1")
	oldTLS.MaxVersion = tls.VersionTLS11
	now := time.Now().UTC()
	tokenAt := func(at time.Time) string { return mintToken(t, e.TokenEndpoint(), region, iamUser, at) }
	fresh := tokenAt(now)

	plain := mysql8test.StartForTest(t, mysql8test.Options{Accounts: []mysql8test.Account{{User: sha2User, Password: sha2Pass}}})
	reqTLSCfg, reqCA, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	reqTLS := mysql8test.StartForTest(t, mysql8test.Options{TLS: reqTLSCfg, CAPEM: reqCA, DefaultPlugin: mysql8test.PluginNative,
		Accounts: []mysql8test.Account{{User: "secure", Password: "secure-pw-1", Plugin: mysql8test.PluginNative, RequireTLS: true}}})

	modeTLS, modeCA, err := mysql8test.GenerateTLS()
	if err != nil {
		t.Fatal(err)
	}
	sha2Account := []mysql8test.Account{{User: sha2User, Password: sha2Pass}}
	proxyTLS := mysql8test.StartForTest(t, mysql8test.Options{TLS: modeTLS, CAPEM: modeCA, Accounts: sha2Account, ProxyRequiresTLS: true})
	secureTransport := mysql8test.StartForTest(t, mysql8test.Options{TLS: modeTLS, CAPEM: modeCA, Accounts: sha2Account, RequireSecureTransport: true})
	noRSA := mysql8test.StartForTest(t, mysql8test.Options{Accounts: sha2Account, NoRSAKey: true})
	sha2OnlyTLS := mysql8test.StartForTest(t, mysql8test.Options{TLS: modeTLS, CAPEM: modeCA, Accounts: sha2Account, CachingSHA2OnlyOverTLS: true})

	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	silent := listen(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) })
	ssh := listen(t, func(c net.Conn) {
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
		_, _ = c.Read(make([]byte, 1))
	})
	halfGreeting := listen(t, func(c net.Conn) { _, _ = c.Write([]byte{0x4a, 0, 0, 0, 0x0a, '8', '.', '0'}) })
	blocked := listen(t, func(c net.Conn) {
		msg := "Host '127.0.0.1' is blocked because of many connection errors"
		p := append([]byte{0xff, 0x69, 0x04}, msg...) // ERR 1129, no SQLSTATE in a pre-greeting ERR
		_, _ = handshake.WritePacket(c, 0, p)
	})

	gsd := handshake.GoSQLDriver(true)
	cases := []tcase{
		{name: "IAM via proxy OK", addr: e.Addr, user: iamUser, secret: fresh, tls: tlsOK, profile: gsd, iam: true, wantOK: true, document: "iam-via-proxy-ok"},
		{name: "static password to IAM account", addr: e.Addr, user: iamUser, secret: "a-static-password", tls: tlsOK, profile: gsd,
			want: []string{diagnose.CodeStaticPasswordToIAM}, fixHas: "auth: iam", document: "static-password-to-iam-account"},
		{name: "clear text without TLS", addr: e.Addr, user: iamUser, secret: fresh, profile: gsd, iam: true, reveal: true,
			want: []string{diagnose.CodeClearTextWithoutTLS}, fixHas: "TLS", document: "cleartext-without-tls"},
		{name: "secret withheld without verified TLS", addr: e.Addr, user: iamUser, secret: fresh, profile: gsd, iam: true,
			want: []string{diagnose.CodeSecretWithoutVerifiedTLS}, fixHas: "verify-identity"},
		{name: "clear-text opt-in missing", addr: e.Addr, user: iamUser, secret: fresh, tls: tlsOK, profile: handshake.GoSQLDriver(false), iam: true,
			want: []string{diagnose.CodeClearTextOptIn}, fixHas: "allowCleartextPasswords=true"},
		{name: "caching_sha2 full auth over plain TCP", addr: e.Addr, user: sha2User, secret: sha2Pass, profile: gsd, before: e.InvalidateCache, reveal: true,
			wantOK: true, want: []string{diagnose.CodeFastAuthCacheMiss}, document: "caching-sha2-full-auth-plain-tcp"},
		{name: "RSA key needed: PyMySQL without cryptography", addr: e.Addr, user: sha2User, secret: sha2Pass, profile: sslDisabled(handshake.PyMySQL(false, false)), before: e.InvalidateCache,
			want: []string{diagnose.CodeRSAKeyNeeded, diagnose.CodeFastAuthCacheMiss}, fixHas: "pip install cryptography"},
		{name: "RSA key needed: Connector/J without allowPublicKeyRetrieval", addr: e.Addr, user: sha2User, secret: sha2Pass, profile: handshake.ConnectorJ(false), before: e.InvalidateCache,
			want: []string{diagnose.CodeRSAKeyNeeded, diagnose.CodeFastAuthCacheMiss}, fixHas: "allowPublicKeyRetrieval=true"},
		{name: "token expired", addr: e.Addr, user: iamUser, secret: tokenAt(now.Add(-20 * time.Minute)), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeTokenExpired}, fixHas: "fresh token", document: "token-expired"},
		{name: "token signed in the future", addr: e.Addr, user: iamUser, secret: tokenAt(now.Add(10 * time.Minute)), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeTokenClockSkew}, fixHas: "clock"},
		{name: "token signed for a CNAME", addr: e.Addr, user: iamUser, secret: mintToken(t, "db.example.internal:"+strconv.Itoa(e.Port), region, iamUser, now), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeTokenWrongHost}, fixHas: "CNAME"},
		{name: "token signed for another port", addr: e.Addr, user: iamUser, secret: mintToken(t, "127.0.0.1:3306", region, iamUser, now), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeTokenWrongHost}},
		{name: "token for another region", addr: e.Addr, user: iamUser, secret: mintToken(t, e.TokenEndpoint(), "us-west-2", iamUser, now), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeTokenWrongRegion}, fixHas: "region"},
		{name: "token for another user", addr: e.Addr, user: iamUser, secret: mintToken(t, e.TokenEndpoint(), region, "someone_else", now), tls: tlsOK, profile: gsd, iam: true,
			want: []string{diagnose.CodeWrongUser}},
		{name: "wrong password", addr: e.Addr, user: sha2User, secret: "not-the-password", tls: tlsOK, profile: gsd,
			want: []string{diagnose.CodeAccessDenied, diagnose.CodeFastAuthCacheMiss}},
		{name: "account requires TLS, plain TCP used", addr: reqTLS.Addr, user: "secure", secret: "secure-pw-1", profile: gsd,
			want: []string{diagnose.CodeServerRequiresTLS}, fixHas: "verify-identity"},
		{name: "server requires TLS: a proxy answers 1105", addr: proxyTLS.Addr, user: sha2User, secret: sha2Pass, profile: gsd,
			want: []string{diagnose.CodeServerRequiresTLS}, fixHas: "verify-identity", document: "server-requires-tls-proxy"},
		{name: "server requires TLS: require_secure_transport 3159", addr: secureTransport.Addr, user: sha2User, secret: sha2Pass, profile: gsd, reveal: true,
			want: []string{diagnose.CodeServerRequiresTLS, diagnose.CodeFastAuthCacheMiss}, fixHas: "verify-identity", document: "server-requires-tls-3159"},
		{name: "server has no RSA key", addr: noRSA.Addr, user: sha2User, secret: sha2Pass, profile: gsd, before: noRSA.InvalidateCache,
			want: []string{diagnose.CodeServerHasNoRSA, diagnose.CodeFastAuthCacheMiss}, fixHas: "RSA keys", document: "server-has-no-rsa"},
		{name: "caching_sha2 only over TLS", addr: sha2OnlyTLS.Addr, user: sha2User, secret: sha2Pass, profile: gsd,
			want: []string{diagnose.CodeCachingSHA2OnlyTLS, diagnose.CodeFastAuthCacheMiss}, fixHas: "connect with TLS", document: "caching-sha2-only-over-tls"},
		{name: "server lacks TLS", addr: plain.Addr, user: sha2User, secret: sha2Pass, tls: tlsOK, profile: gsd,
			want: []string{diagnose.CodeServerLacksTLS}},
		{name: "CA does not verify (RDS Proxy checked against another bundle)", addr: e.Addr, host: "orders.proxy-abc123xyz.us-east-1.rds.amazonaws.com",
			user: sha2User, secret: sha2Pass, tls: wrongCA, profile: gsd,
			want: []string{diagnose.CodeCAMismatch}, fixHas: "Amazon Root"},
		{name: "TLS handshake failure", addr: e.Addr, user: iamUser, secret: fresh, tls: oldTLS, profile: gsd, iam: true,
			want: []string{diagnose.CodeTLSHandshake}},
		{name: "DNS failure", addr: "no-such-db.invalid:3306", user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeDNSFailure}},
		{name: "connection refused", addr: refused, user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeConnectionRefused}},
		{name: "connect timeout", addr: "127.0.0.1:9", user: "u", secret: "unused-secret-91b2", profile: gsd, dialer: blackhole{},
			want: []string{diagnose.CodeConnectTimeout}},
		{name: "timeout before greeting", addr: silent, user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeGreetingTimeout}},
		{name: "not MySQL (SSH banner)", addr: ssh, user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeNotMySQL}},
		{name: "server closed mid-handshake", addr: halfGreeting, user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeClosedMidHandshake}},
		{name: "server error before greeting (host blocked)", addr: blocked, user: "u", secret: "unused-secret-91b2", profile: gsd,
			want: []string{diagnose.CodeServerError}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			in, tr, err := probe(t, tc)
			fs := diagnose.Diagnose(in)
			var got []string
			for _, f := range fs {
				got = append(got, f.Code)
				seen[f.Code] = true
				if f.Cause == "" || f.Fix == "" {
					t.Errorf("finding %s lacks a cause or a fix: %+v", f.Code, f)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("codes (-want +got):\n%s\ntranscript:\n%s", diff, tr)
			}
			if (err == nil) != tc.wantOK {
				t.Errorf("probe error = %v, want ok=%t", err, tc.wantOK)
			}
			if tc.fixHas != "" && (len(fs) == 0 || !strings.Contains(fs[0].Fix, tc.fixHas)) {
				t.Errorf("first fix should mention %q: %+v", tc.fixHas, fs)
			}
			text := tr.String() + render(fs)
			if strings.Contains(text, tc.secret) {
				t.Fatalf("the secret leaked into the transcript or findings")
			}
			if tc.document != "" && *update {
				path := filepath.Join("..", "..", "docs", "transcripts", tc.document+".txt")
				if err := os.WriteFile(path, []byte("$ connbroker diagnose (prober playing "+tc.profile.Name+")\n"+text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	for _, c := range diagnose.Catalogue {
		// Reproduced elsewhere: plugin-unsupported in TestProfilesMatchRealDrivers,
		// unix-socket-used in TestServerBehavioursRealDrivers.
		elsewhere := c.Code == diagnose.CodePluginUnsupported || c.Code == diagnose.CodeUnixSocketUsed ||
			// AWS API codes: against moto in broker's TestAWSFindings.
			strings.Contains(strings.Join(diagnose.AWSCodes, " "), c.Code)
		if !seen[c.Code] && !elsewhere {
			t.Errorf("catalogue code %s is not reproduced by any case", c.Code)
		}
	}
}

func probe(t *testing.T, tc tcase) (diagnose.Input, *handshake.Transcript, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p := &handshake.Probe{Dialer: tc.dialer, Timeouts: handshake.Timeouts{Dial: time.Second, Greeting: 500 * time.Millisecond}}
	tgt := handshake.Target{Addr: tc.addr, User: tc.user, Secret: tc.secret, TLS: tc.tls, Profile: tc.profile}
	if tc.reveal {
		tgt.RevealWithoutVerifiedTLS = []string{handshake.AnyPlugin}
	}
	tr, err := p.Run(ctx, tgt)
	h, ps, _ := net.SplitHostPort(tc.addr)
	port, _ := strconv.Atoi(ps)
	if tc.host != "" {
		h = tc.host
	}
	if tc.port != 0 {
		port = tc.port
	}
	in := diagnose.Input{Transcript: tr, Err: err, Host: h, Port: port, IAM: tc.iam, Region: region, CustomCA: tc.tls != nil}
	if tc.iam {
		c, perr := diagnose.ParseToken(tc.secret)
		if perr != nil {
			t.Fatalf("ParseToken: %v", perr)
		}
		in.Token = &c
	}
	return in, tr, err
}

func render(fs []diagnose.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "finding %s (%s): %s\n  fix: %s\n", f.Code, f.Severity, f.Cause, f.Fix)
	}
	return b.String()
}

// BenchmarkCompare measures the driver table: 16 profiles against the
// RDS-like endpoint, IAM over verified TLS (each a real TLS handshake).
func BenchmarkCompare(b *testing.B) {
	e, err := rdslike.Start(context.Background(), rdslike.Options{Region: region, AccessKeyID: testKeyID, SecretAccessKey: testSecret, IAMUsers: []string{iamUser}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	tok := mintToken(b, e.TokenEndpoint(), region, iamUser, time.Now().UTC())
	base := handshake.Target{Addr: e.Addr, User: iamUser, Secret: tok, TLS: e.ClientTLS("127.0.0.1")}
	p := &handshake.Probe{}
	cases := diagnose.DriverCases(hints.Input{Host: "127.0.0.1", Port: 3306, User: iamUser, IAM: true, Plugin: hints.PluginClearText, TLSMode: config.TLSVerifyIdentity, ServerName: "127.0.0.1"})
	for b.Loop() {
		ps := diagnose.Compare(context.Background(), p, base, diagnose.Input{IAM: true}, cases)
		if len(ps) != len(cases) || !ps[1].Works {
			b.Fatalf("unexpected predictions: %+v", ps[1])
		}
	}
}
