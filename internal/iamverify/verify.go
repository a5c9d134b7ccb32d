// Package iamverify verifies RDS IAM database authentication tokens the way
// an RDS server does: it recomputes the AWS Signature Version 4 of the
// presigned "connect" URL with a known access key and checks host, port,
// region, service, user and validity window.
//
// It exists for tests and local development: a real MariaDB with the PAM
// plugin calls cmd/connbroker-pam-check, which calls Verify, so that the
// broker's tokens are checked by an independent implementation of the spec
// rather than by re-running the SDK signer.
//
// A token looks like (one line, no scheme):
//
//	HOST:PORT/?Action=connect&DBUser=USER&X-Amz-Algorithm=AWS4-HMAC-SHA256
//	  &X-Amz-Credential=AKID%2FYYYYMMDD%2FREGION%2Frds-db%2Faws4_request
//	  &X-Amz-Date=YYYYMMDDTHHMMSSZ&X-Amz-Expires=900&X-Amz-SignedHeaders=host
//	  &X-Amz-Signature=HEX
//
// aws-sdk-go-v2 emits "HOST:PORT?Action=..." (no slash) and botocore emits
// "HOST:PORT/?Action=..."; both sign the canonical URI "/" and both are accepted.
//
// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
// and https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html.
package iamverify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// Service is the SigV4 service name of RDS IAM database authentication.
	Service = "rds-db"
	// Algorithm is the only signing algorithm RDS accepts.
	Algorithm = "AWS4-HMAC-SHA256"
	// MaxExpires is the longest validity RDS grants a token (15 minutes).
	MaxExpires = 900 * time.Second
	// DefaultMaxSkew is the clock skew allowed when Policy.MaxSkew is zero.
	DefaultMaxSkew = 5 * time.Minute

	// emptyPayloadHash is hex(sha256("")): a presigned GET has no body.
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	amzDateFormat    = "20060102T150405Z"
	shortDateFormat  = "20060102"
	// maxTokenLen bounds the work done on hostile input; real tokens are
	// about 400 bytes (1-2 KB with a session token).
	maxTokenLen = 8 << 10
)

// Policy is what a verifier knows: the one access key it trusts and the
// endpoint the token must be signed for.
type Policy struct {
	// AccessKeyID and SecretAccessKey are the key the token must be signed with.
	AccessKeyID, SecretAccessKey string
	// Region is the region the credential scope must name.
	Region string
	// Host and Port are the endpoint the token must be signed for (the host
	// the client connects to, as it appears in the token; compared without case).
	Host string
	Port int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the clock difference tolerated between signer and verifier,
	// applied to both ends of the validity window. Zero means DefaultMaxSkew;
	// a negative value means none.
	MaxSkew time.Duration
}

// Verify checks that token is a valid RDS IAM token for user under p. It
// returns nil or an *Error whose Kind is one of the sentinel errors of this
// package. Checks run in this order: shape, host and port, algorithm,
// service, region, access key, user, signature, validity window; so an
// expired token with a good signature reports ErrExpired, and the time
// claims are only trusted once the signature is good.
//
// The returned error never contains the token, the signature or the secret.
func Verify(p Policy, user, token string) error {
	if len(token) > maxTokenLen {
		return fail(ErrMalformed, fmt.Sprintf("token is %d bytes, limit %d", len(token), maxTokenLen))
	}
	if p.AccessKeyID == "" || p.SecretAccessKey == "" || p.Region == "" || p.Host == "" || p.Port <= 0 {
		return fmt.Errorf("verify iam token: incomplete policy (access key, secret, region, host and port are required)")
	}

	t, err := parse(token)
	if err != nil {
		return err
	}

	// Host and port: the canonical "host" header the server derives from
	// the endpoint the client was told to connect to.
	want := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	if !strings.EqualFold(t.hostPort, want) {
		return fail(ErrWrongHost, fmt.Sprintf("token is for %s, server is %s", safe(t.hostPort), safe(want)))
	}

	if t.algorithm != Algorithm {
		return fail(ErrMalformed, "X-Amz-Algorithm is not "+Algorithm)
	}
	if t.scope.service != Service {
		return fail(ErrBadService, fmt.Sprintf("credential scope service is %s, want %s", safe(t.scope.service), Service))
	}
	if t.scope.region != p.Region {
		return fail(ErrWrongRegion, fmt.Sprintf("token is for region %s, server is in %s", safe(t.scope.region), safe(p.Region)))
	}
	if t.scope.accessKeyID != p.AccessKeyID {
		return fail(ErrUnknownKey, "token names access key ending "+safe(lastN(t.scope.accessKeyID, 4)))
	}
	if t.dbUser != user {
		return fail(ErrWrongUser, fmt.Sprintf("token is for user %s, login is for %s", safe(t.dbUser), safe(user)))
	}

	// Signature (task 1-4 of the SigV4 spec).
	canonicalRequest := strings.Join([]string{
		"GET",
		"/",
		t.canonicalQuery,
		"host:" + canonicalHost(t.hostPort, p.Port) + "\n",
		"host",
		emptyPayloadHash,
	}, "\n")
	crHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := strings.Join([]string{
		Algorithm,
		t.amzDate,
		t.scope.String(),
		hex.EncodeToString(crHash[:]),
	}, "\n")
	key := signingKey(p.SecretAccessKey, t.scope.date, t.scope.region, t.scope.service)
	want2 := hmacSHA256(key, []byte(stringToSign))
	if !hmac.Equal(want2, t.signature) {
		return fail(ErrBadSignature, "recomputed SigV4 signature differs (token altered, or signed with another secret)")
	}

	// Validity window.
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	skew := p.MaxSkew
	if skew == 0 {
		skew = DefaultMaxSkew
	} else if skew < 0 {
		skew = 0
	}
	n := now().UTC()
	if n.Before(t.signedAt.Add(-skew)) {
		return fail(ErrNotYetValid, fmt.Sprintf("signed at %s, %s in the future (max skew %s)",
			t.signedAt.Format(time.RFC3339), t.signedAt.Sub(n).Round(time.Second), skew))
	}
	if expiry := t.signedAt.Add(t.expires); !n.Before(expiry.Add(skew)) {
		return fail(ErrExpired, fmt.Sprintf("signed at %s, valid for %s, expired %s ago (max skew %s)",
			t.signedAt.Format(time.RFC3339), t.expires, n.Sub(expiry).Round(time.Second), skew))
	}
	return nil
}

// canonicalHost is the value of the signed "host" header: the host part of
// the token as the signer wrote it (Verify has checked it matches the policy
// without case). Like the AWS SDKs (which build the URL with an https
// scheme), the default port 443 is dropped from the header even though it
// stays in the token text.
func canonicalHost(hostPort string, port int) string {
	if port == 443 {
		return strings.TrimSuffix(hostPort, ":443")
	}
	return hostPort
}

type scope struct {
	accessKeyID, date, region, service string
}

func (s scope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/aws4_request"
}

type parsed struct {
	hostPort       string
	dbUser         string
	algorithm      string
	scope          scope
	amzDate        string
	signedAt       time.Time
	expires        time.Duration
	signature      []byte
	canonicalQuery string
}

// parse splits a token into its parts and builds the canonical query
// string. It checks shape only; policy checks happen in Verify.
func parse(token string) (*parsed, error) {
	s := token
	// Tolerate a scheme, which some tools keep.
	for _, scheme := range []string{"https://", "http://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	hostPath, rawQuery, ok := strings.Cut(s, "?")
	if !ok {
		return nil, fail(ErrMalformed, "no query string")
	}
	hostPort := strings.TrimSuffix(hostPath, "/")
	if hostPort == "" || strings.ContainsAny(hostPort, "/@#\\ \t\r\n") {
		return nil, fail(ErrMalformed, "host part is not HOST:PORT with path \"/\" or none")
	}
	if strings.Contains(rawQuery, "#") {
		return nil, fail(ErrMalformed, "token contains a fragment")
	}

	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		// The url error quotes the offending part of the query, which
		// could be a piece of the token: do not wrap it.
		return nil, fail(ErrMalformed, "query string does not parse")
	}
	one := func(k string) (string, error) {
		v := values[k]
		switch {
		case len(v) == 0 || v[0] == "":
			return "", fail(ErrMalformed, "missing "+k)
		case len(v) > 1:
			return "", fail(ErrMalformed, "repeated "+k)
		}
		return v[0], nil
	}
	for k, v := range values {
		if len(v) > 1 {
			return nil, fail(ErrMalformed, "repeated parameter "+safe(k))
		}
	}

	t := &parsed{hostPort: hostPort}
	action, err := one("Action")
	if err != nil {
		return nil, err
	}
	if action != "connect" {
		return nil, fail(ErrMalformed, "Action is not connect")
	}
	if t.dbUser, err = one("DBUser"); err != nil {
		return nil, err
	}
	if t.algorithm, err = one("X-Amz-Algorithm"); err != nil {
		return nil, err
	}
	cred, err := one("X-Amz-Credential")
	if err != nil {
		return nil, err
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return nil, fail(ErrMalformed, "X-Amz-Credential is not AKID/DATE/REGION/SERVICE/aws4_request")
	}
	t.scope = scope{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}

	if t.amzDate, err = one("X-Amz-Date"); err != nil {
		return nil, err
	}
	t.signedAt, err = time.Parse(amzDateFormat, t.amzDate)
	if err != nil {
		return nil, fail(ErrMalformed, "X-Amz-Date is not "+amzDateFormat)
	}
	if t.scope.date != t.amzDate[:len(shortDateFormat)] {
		return nil, fail(ErrMalformed, "credential scope date does not match X-Amz-Date")
	}

	exp, err := one("X-Amz-Expires")
	if err != nil {
		return nil, err
	}
	secs, err := strconv.Atoi(exp)
	if err != nil || secs <= 0 || exp[0] == '+' || exp[0] == '0' {
		return nil, fail(ErrMalformed, "X-Amz-Expires is not a positive number of seconds")
	}
	if time.Duration(secs)*time.Second > MaxExpires {
		return nil, fail(ErrMalformed, fmt.Sprintf("X-Amz-Expires is %ds, RDS allows at most %ds", secs, int(MaxExpires/time.Second)))
	}
	t.expires = time.Duration(secs) * time.Second

	sh, err := one("X-Amz-SignedHeaders")
	if err != nil {
		return nil, err
	}
	if sh != "host" {
		return nil, fail(ErrMalformed, "X-Amz-SignedHeaders is not host")
	}

	sig, err := one("X-Amz-Signature")
	if err != nil {
		return nil, err
	}
	if len(sig) != 2*sha256.Size || strings.ToLower(sig) != sig {
		return nil, fail(ErrMalformed, "X-Amz-Signature is not 64 lowercase hex digits")
	}
	if t.signature, err = hex.DecodeString(sig); err != nil {
		return nil, fail(ErrMalformed, "X-Amz-Signature is not 64 lowercase hex digits")
	}

	delete(values, "X-Amz-Signature")
	t.canonicalQuery = canonicalQuery(values)
	return t, nil
}

// canonicalQuery encodes the query as SigV4 requires: names and values
// URI-encoded (RFC 3986 unreserved characters kept, everything else %XX
// in upper case, space as %20), sorted by name then value, joined by '&'.
func canonicalQuery(values url.Values) string {
	type kv struct{ k, v string }
	params := make([]kv, 0, len(values))
	for k, vs := range values {
		for _, v := range vs {
			params = append(params, kv{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode percent-encodes every byte outside A-Z a-z 0-9 - _ . ~.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// signingKey derives the SigV4 key: HMAC chain over date, region, service
// and "aws4_request", starting from "AWS4"+secret.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

func lastN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
