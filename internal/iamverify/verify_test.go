package iamverify

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

const (
	testAKID   = "AKIDEXAMPLEVERIFY01"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
	testHost   = "db.example.internal"
	testPort   = 3306
	testUser   = "app_iam"
)

var testCreds = credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")

func basePolicy() Policy {
	return Policy{AccessKeyID: testAKID, SecretAccessKey: testSecret, Region: testRegion, Host: testHost, Port: testPort}
}

// buildToken mints a token with the real SDK entry point, signed now.
func buildToken(t testing.TB, endpoint, region, user string, creds aws.CredentialsProvider) string {
	t.Helper()
	tok, err := auth.BuildAuthToken(context.Background(), endpoint, region, user, creds)
	if err != nil {
		t.Fatalf("BuildAuthToken: %v", err)
	}
	return tok
}

// presignAt does what auth.BuildAuthToken does, but at a fixed signing
// time, so window boundaries can be tested exactly. It uses the SDK signer
// only to produce test input.
func presignAt(t testing.TB, endpoint, region, user string, at time.Time) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"Action": {"connect"}, "DBUser": {user}, "X-Amz-Expires": {"900"}}
	req.URL.RawQuery = q.Encode()
	creds, _ := testCreds.Retrieve(context.Background())
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptyPayloadHash, Service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u, "https://")
}

// edit rewrites one query parameter of a token, keeping everything else verbatim.
func edit(token, key, value string) string {
	re := regexp.MustCompile(`([?&])` + regexp.QuoteMeta(key) + `=[^&]*`)
	return re.ReplaceAllString(token, "${1}"+key+"="+url.QueryEscape(value))
}

func flipLastSigDigit(token string) string {
	b := []byte(token)
	last := len(b) - 1
	if b[last] == '0' {
		b[last] = '1'
	} else {
		b[last] = '0'
	}
	return string(b)
}

func TestVerify(t *testing.T) {
	endpoint := "db.example.internal:3306"
	fresh := buildToken(t, endpoint, testRegion, testUser, testCreds)
	signedAt := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	fixed := presignAt(t, endpoint, testRegion, testUser, signedAt)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return signedAt.Add(d) } }

	sessCreds := credentials.NewStaticCredentialsProvider(testAKID, testSecret, "FwoGZXIvYXdzEJr//////////session+token=")
	v6 := Policy{AccessKeyID: testAKID, SecretAccessKey: testSecret, Region: testRegion, Host: "::1", Port: 3306}

	tests := []struct {
		name   string
		policy func(*Policy)
		user   string
		token  string
		want   error
	}{
		{name: "sdk token (no slash)", token: fresh},
		{name: "botocore shape (slash before query)", token: strings.Replace(fresh, "?", "/?", 1)},
		{name: "scheme tolerated", token: "https://" + fresh},
		{name: "host compared without case", token: fresh, policy: func(p *Policy) { p.Host = "DB.Example.Internal" }},
		{name: "session token signed in query", token: buildToken(t, endpoint, testRegion, testUser, sessCreds)},
		{name: "port 443 drops port from signed host", token: buildToken(t, "db.example.internal:443", testRegion, testUser, testCreds),
			policy: func(p *Policy) { p.Port = 443 }},
		{name: "ipv6 host", token: buildToken(t, "[::1]:3306", testRegion, testUser, testCreds), policy: func(p *Policy) { *p = v6 }},
		{name: "user with special characters", user: "app+ü ser", token: buildToken(t, endpoint, testRegion, "app+ü ser", testCreds)},

		{name: "fixed time: just signed", token: fixed, policy: func(p *Policy) { p.Now = at(0) }},
		{name: "fixed time: last second", token: fixed, policy: func(p *Policy) { p.Now = at(900*time.Second - time.Nanosecond); p.MaxSkew = -1 }},
		{name: "fixed time: at expiry", token: fixed, policy: func(p *Policy) { p.Now = at(900 * time.Second); p.MaxSkew = -1 }, want: ErrExpired},
		{name: "fixed time: expired within skew", token: fixed, policy: func(p *Policy) { p.Now = at(17 * time.Minute) }},
		{name: "fixed time: expired beyond skew", token: fixed, policy: func(p *Policy) { p.Now = at(21 * time.Minute) }, want: ErrExpired},
		{name: "fixed time: future within skew", token: fixed, policy: func(p *Policy) { p.Now = at(-4 * time.Minute) }},
		{name: "fixed time: future beyond skew", token: fixed, policy: func(p *Policy) { p.Now = at(-6 * time.Minute) }, want: ErrNotYetValid},
		{name: "fixed time: custom skew", token: fixed, policy: func(p *Policy) { p.Now = at(-time.Minute); p.MaxSkew = 30 * time.Second }, want: ErrNotYetValid},
		{name: "real token expired (clock 20m ahead)", token: fresh, policy: func(p *Policy) { p.Now = func() time.Time { return time.Now().Add(20 * time.Minute) } }, want: ErrExpired},
		{name: "real token from the future (clock 10m behind)", token: fresh, policy: func(p *Policy) { p.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } }, want: ErrNotYetValid},

		{name: "wrong host", token: buildToken(t, "other.example.internal:3306", testRegion, testUser, testCreds), want: ErrWrongHost},
		{name: "wrong port", token: buildToken(t, "db.example.internal:3307", testRegion, testUser, testCreds), want: ErrWrongHost},
		{name: "wrong region", token: buildToken(t, endpoint, "eu-west-1", testUser, testCreds), want: ErrWrongRegion},
		{name: "wrong user", user: "app_other", token: fresh, want: ErrWrongUser},
		{name: "unknown key", token: buildToken(t, endpoint, testRegion, testUser, credentials.NewStaticCredentialsProvider("AKIDOTHER", testSecret, "")), want: ErrUnknownKey},
		{name: "wrong secret", token: fresh, policy: func(p *Policy) { p.SecretAccessKey = "another-secret" }, want: ErrBadSignature},
		{name: "bad service", token: edit(fresh, "X-Amz-Credential", testAKID+"/"+signedAtDate(fresh)+"/"+testRegion+"/s3/aws4_request"), want: ErrBadService},

		{name: "tampered signature", token: flipLastSigDigit(fresh), want: ErrBadSignature},
		{name: "tampered user (verifier asked for it)", user: "admin", token: edit(fresh, "DBUser", "admin"), want: ErrBadSignature},
		{name: "tampered date", token: edit(fixed, "X-Amz-Date", "20250314T120001Z"), policy: func(p *Policy) { p.Now = at(0) }, want: ErrBadSignature},
		{name: "tampered expires", token: edit(fresh, "X-Amz-Expires", "899"), want: ErrBadSignature},
		{name: "extra unsigned parameter", token: fresh + "&X-Extra=1", want: ErrBadSignature},

		{name: "empty", token: "", want: ErrMalformed},
		{name: "password not a token", token: "hunter2", want: ErrMalformed},
		{name: "no host", token: "?" + strings.SplitN(fresh, "?", 2)[1], want: ErrMalformed},
		{name: "other path", token: strings.Replace(fresh, "?", "/x?", 1), want: ErrMalformed},
		{name: "bad escape", token: fresh + "&%zz=1", want: ErrMalformed},
		{name: "repeated parameter", token: fresh + "&DBUser=" + testUser, want: ErrMalformed},
		{name: "action not connect", token: edit(fresh, "Action", "Connect"), want: ErrMalformed},
		{name: "algorithm", token: edit(fresh, "X-Amz-Algorithm", "AWS4-HMAC-SHA1"), want: ErrMalformed},
		{name: "expires too long", token: edit(fresh, "X-Amz-Expires", "3600"), want: ErrMalformed},
		{name: "expires zero", token: edit(fresh, "X-Amz-Expires", "0"), want: ErrMalformed},
		{name: "signed headers", token: edit(fresh, "X-Amz-SignedHeaders", "host;x-amz-date"), want: ErrMalformed},
		{name: "signature short", token: edit(fresh, "X-Amz-Signature", "abcd"), want: ErrMalformed},
		{name: "signature upper case", token: edit(fresh, "X-Amz-Signature", strings.ToUpper(sigOf(fresh))), want: ErrMalformed},
		{name: "signature not hex", token: edit(fresh, "X-Amz-Signature", strings.Repeat("g", 64)), want: ErrMalformed},
		{name: "date garbage", token: edit(fresh, "X-Amz-Date", "yesterday"), want: ErrMalformed},
		{name: "scope date differs", token: edit(fresh, "X-Amz-Credential", testAKID+"/19990101/"+testRegion+"/rds-db/aws4_request"), want: ErrMalformed},
		{name: "credential shape", token: edit(fresh, "X-Amz-Credential", testAKID), want: ErrMalformed},
		{name: "huge", token: fresh + "&" + strings.Repeat("a", maxTokenLen), want: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			user := tc.user
			if user == "" {
				user = testUser
			}
			err := Verify(p, user, tc.token)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
			if err == nil {
				return
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("Verify() error %T is not *Error", err)
			}
			assertNoSecrets(t, err.Error(), tc.token)
			if got, want := Reason(err), Reason(tc.want); got != want {
				t.Errorf("Reason() = %q, want %q", got, want)
			}
		})
	}
}

func signedAtDate(token string) string {
	m := regexp.MustCompile(`X-Amz-Date=(\d{8})`).FindStringSubmatch(token)
	if m == nil {
		return ""
	}
	return m[1]
}

// sigOf returns the token's signature parameter when it looks like one.
func sigOf(token string) string {
	_, q, _ := strings.Cut(token, "?")
	v, _ := url.ParseQuery(q)
	sig := v.Get("X-Amz-Signature")
	if !regexp.MustCompile(`^[0-9a-fA-F]{64}$`).MatchString(sig) {
		return ""
	}
	return sig
}

func assertNoSecrets(t testing.TB, msg, token string) {
	t.Helper()
	if strings.Contains(msg, testSecret) {
		t.Errorf("error message contains the secret key: %s", msg)
	}
	if sig := sigOf(token); len(sig) >= 16 && strings.Contains(msg, sig[:16]) {
		t.Errorf("error message contains the signature: %s", msg)
	}
	if sigOf(token) != "" && strings.Contains(msg, token[len(token)-40:]) {
		t.Errorf("error message contains the token: %s", msg)
	}
}

func TestVerifyIncompletePolicy(t *testing.T) {
	tok := buildToken(t, "db.example.internal:3306", testRegion, testUser, testCreds)
	err := Verify(Policy{Host: testHost, Port: testPort}, testUser, tok)
	if err == nil || Reason(err) != "error" {
		t.Fatalf("Verify(empty policy) = %v, want a non-sentinel error", err)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{errors.New("x"), "error"},
		{fail(ErrExpired, "d"), "expired"},
		{&Error{Kind: ErrWrongRegion}, "wrong_region"},
	}
	for _, tc := range tests {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := fail(ErrWrongUser, "token is for user "+safe("x\ny"))
	if want := `verify iam token: token signed for another database user: token is for user "x\ny"`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if got := (&Error{Kind: ErrExpired}).Error(); got != "verify iam token: token expired" {
		t.Errorf("Error() = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	endpoint := "db.example.internal:3306"
	tok := buildToken(f, endpoint, testRegion, testUser, testCreds)
	f.Add(testUser, tok)
	f.Add(testUser, strings.Replace(tok, "?", "/?", 1))
	f.Add(testUser, flipLastSigDigit(tok))
	f.Add("x", presignAt(f, endpoint, testRegion, "x", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	f.Add(testUser, "")
	f.Add(testUser, "h:1?Action=connect&DBUser=app_iam&X-Amz-Credential=a%2Fb%2Fc%2Fd%2Faws4_request")
	f.Add(testUser, "?&&==%")
	f.Fuzz(func(t *testing.T, user, token string) {
		err := Verify(basePolicy(), user, token)
		if err == nil {
			// Accepting anything the real signer did not produce would be a
			// forgery: only the unmodified seeds may pass.
			if !strings.Contains(token, "X-Amz-Signature=") {
				t.Fatalf("accepted a token without signature: %q", token)
			}
			return
		}
		if Reason(err) == "error" {
			t.Fatalf("unclassified error: %v", err)
		}
		assertNoSecrets(t, err.Error(), token)
	})
}
