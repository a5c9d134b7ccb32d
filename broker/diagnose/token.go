package diagnose

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNotIAMToken means a secret does not have the shape of an RDS IAM token
// (a SigV4-presigned "HOST:PORT/?Action=connect&DBUser=..." URL without a
// scheme). It is not worth retrying.
var ErrNotIAMToken = errors.New("not an RDS IAM token")

// TokenClaims are the unsigned claims of an RDS IAM token: what it was
// signed for and when. They never include the signature nor the access key.
type TokenClaims struct {
	// Host and Port are the endpoint the token was signed for.
	Host string
	Port int
	// User is the DBUser parameter.
	User string
	// Region is the credential scope's region.
	Region string
	// SignedAt is X-Amz-Date.
	SignedAt time.Time
	// Expires is X-Amz-Expires (900 s for RDS).
	Expires time.Duration
}

// ExpiresAt is SignedAt + Expires.
func (c TokenClaims) ExpiresAt() time.Time { return c.SignedAt.Add(c.Expires) }

// ParseToken reads the claims of an RDS IAM token, without checking its
// signature (see botocore signers.py generate_db_auth_token and the AWS
// SigV4 query-string authentication page for the format). The error never
// contains the token.
func ParseToken(token string) (TokenClaims, error) {
	var c TokenClaims
	if len(token) > 8<<10 {
		return c, fmt.Errorf("%w: %d bytes", ErrNotIAMToken, len(token))
	}
	hostPort, query, ok := strings.Cut(token, "/?")
	if !ok || hostPort == "" {
		return c, fmt.Errorf("%w: no HOST:PORT/? prefix", ErrNotIAMToken)
	}
	i := strings.LastIndexByte(hostPort, ':')
	if i <= 0 {
		return c, fmt.Errorf("%w: no port", ErrNotIAMToken)
	}
	port, err := strconv.Atoi(hostPort[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return c, fmt.Errorf("%w: bad port", ErrNotIAMToken)
	}
	c.Host, c.Port = strings.Trim(hostPort[:i], "[]"), port
	q, err := url.ParseQuery(query)
	if err != nil {
		return c, fmt.Errorf("%w: bad query", ErrNotIAMToken)
	}
	if q.Get("Action") != "connect" {
		return c, fmt.Errorf("%w: Action is not connect", ErrNotIAMToken)
	}
	c.User = q.Get("DBUser")
	// X-Amz-Credential = AKID/YYYYMMDD/REGION/rds-db/aws4_request
	parts := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(parts) != 5 || parts[3] != "rds-db" {
		return c, fmt.Errorf("%w: bad credential scope", ErrNotIAMToken)
	}
	c.Region = parts[2]
	if c.SignedAt, err = time.Parse("20060102T150405Z", q.Get("X-Amz-Date")); err != nil {
		return c, fmt.Errorf("%w: bad X-Amz-Date", ErrNotIAMToken)
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 0 || secs > 7*24*3600 {
		return c, fmt.Errorf("%w: bad X-Amz-Expires", ErrNotIAMToken)
	}
	c.Expires = time.Duration(secs) * time.Second
	return c, nil
}
