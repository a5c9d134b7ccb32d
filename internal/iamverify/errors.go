package iamverify

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors returned (wrapped in *Error) by Verify. Use errors.Is to
// classify a failure. None of them is worth retrying with the same token:
// the caller must mint a new token (ErrExpired, ErrNotYetValid) or fix its
// configuration (all others).
var (
	// ErrMalformed means the token is not a well-formed presigned RDS connect URL.
	ErrMalformed = errors.New("malformed token")
	// ErrBadSignature means the SigV4 signature does not match the token's contents.
	ErrBadSignature = errors.New("signature mismatch")
	// ErrExpired means the token's validity window (X-Amz-Date + X-Amz-Expires) has passed.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means the token was signed in the future (beyond the allowed clock skew).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrWrongHost means the token was signed for another host or port.
	ErrWrongHost = errors.New("token signed for another host")
	// ErrWrongRegion means the token's credential scope names another region.
	ErrWrongRegion = errors.New("token signed for another region")
	// ErrWrongUser means the token's DBUser is not the user logging in.
	ErrWrongUser = errors.New("token signed for another database user")
	// ErrUnknownKey means the token was signed with an access key the verifier does not know.
	ErrUnknownKey = errors.New("token signed with an unknown access key")
	// ErrBadService means the credential scope names a service other than rds-db.
	ErrBadService = errors.New("token signed for another service")
)

// reasons maps each sentinel to a short stable identifier, used in logs.
var reasons = []struct {
	err    error
	reason string
}{
	{ErrMalformed, "malformed"},
	{ErrBadSignature, "bad_signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrWrongHost, "wrong_host"},
	{ErrWrongRegion, "wrong_region"},
	{ErrWrongUser, "wrong_user"},
	{ErrUnknownKey, "unknown_key"},
	{ErrBadService, "bad_service"},
}

// Reason returns a short stable identifier for err: "ok" for nil, one of
// "malformed", "bad_signature", "expired", "not_yet_valid", "wrong_host",
// "wrong_region", "wrong_user", "unknown_key", "bad_service" for the
// sentinels above, and "error" for anything else.
func Reason(err error) string {
	if err == nil {
		return "ok"
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "error"
}

// Error is the error type returned by Verify. Kind is one of the sentinel
// errors of this package; Detail says what was found, in words safe to log:
// it never contains the token, its signature or a secret key.
type Error struct {
	Kind   error
	Detail string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail == "" {
		return "verify iam token: " + e.Kind.Error()
	}
	return "verify iam token: " + e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns Kind so that errors.Is(err, ErrExpired) works.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, detail string) error {
	return &Error{Kind: kind, Detail: detail}
}

// safe quotes an attacker-controlled value for an error message: it is
// cut to a short length and quoted so it cannot forge log lines.
func safe(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return strconv.Quote(strings.ToValidUTF8(s, "?"))
}
