package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/singleflight"

	"github.com/connbroker/connbroker/broker/config"
)

// SecretsClient is the part of the AWS Secrets Manager API the broker uses;
// *secretsmanager.Client implements it.
type SecretsClient interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secrets issues passwords kept in AWS Secrets Manager, cached per secret
// for the endpoint's secret_ttl.
//
// It always reads the AWSCURRENT stage, as AWS documents for clients: a
// rotation writes the new password as AWSPENDING, sets it in the database,
// tests it, and only then moves AWSCURRENT to it. In the short window
// between the database change and that move a login with AWSCURRENT fails
// with 1045; the broker then drops the cached value (Invalidate) and reads
// again at once, and the validation retries once. When AWSCURRENT still
// holds the old value, the broker reads AWSPENDING (Pending), tries it
// with a real login, and only when that login succeeds hands it out
// (Adopt) until the secret's TTL ends: AWSPENDING is never handed out
// untested, because until the rotation sets it in the database it is not
// the password.
type Secrets struct {
	client SecretsClient
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]secretEntry
	group singleflight.Group
}

type secretEntry struct {
	secret    Secret
	versionID string
	readAt    time.Time
}

// NewSecrets returns an issuer reading with client.
func NewSecrets(client SecretsClient) *Secrets {
	return &Secrets{client: client, now: time.Now, cache: make(map[string]secretEntry)}
}

// rdsSecret is the JSON of an RDS-managed (or RDS rotation template)
// secret; only the password is used.
type rdsSecret struct {
	Password *string `json:"password"`
}

// Issue returns the endpoint's password from Secrets Manager.
func (s *Secrets) Issue(ctx context.Context, ep *config.Endpoint) (Credential, error) {
	id := ep.Password.SecretsManager
	src := "secretsmanager:" + id
	ttl := ep.Password.SecretTTL
	if ttl == 0 {
		ttl = config.DefaultSecretTTL
	}
	s.mu.Lock()
	e, ok := s.cache[id]
	s.mu.Unlock()
	if ok && s.now().Sub(e.readAt) < ttl {
		return Credential{Kind: KindPassword, Secret: e.secret, Source: src, Cached: true}, nil
	}
	ch := s.group.DoChan(id, func() (any, error) { return s.read(context.WithoutCancel(ctx), id) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Credential{}, &SourceError{Endpoint: ep.Name, Source: src, Err: r.Err}
		}
		return Credential{Kind: KindPassword, Secret: r.Val.(secretEntry).secret, Source: src}, nil
	case <-ctx.Done():
		return Credential{}, ctx.Err()
	}
}

func (s *Secrets) read(ctx context.Context, id string) (secretEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stage := "AWSCURRENT"
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id, VersionStage: &stage})
	if err != nil {
		return secretEntry{}, fmt.Errorf("get secret value: %w", err)
	}
	if out.SecretString == nil {
		return secretEntry{}, errors.New("secret has no string value (binary secrets are not supported)")
	}
	pw, err := parseSecret(*out.SecretString)
	if err != nil {
		return secretEntry{}, err
	}
	e := secretEntry{secret: NewSecret(pw), readAt: s.now()}
	if out.VersionId != nil {
		e.versionID = *out.VersionId
	}
	s.mu.Lock()
	s.cache[id] = e
	s.mu.Unlock()
	return e, nil
}

// parseSecret returns the password of an RDS secret JSON, or the whole
// string when it is not JSON. Errors never quote the value.
func parseSecret(v string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		var r rdsSecret
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return "", errors.New("secret looks like JSON but does not parse")
		}
		if r.Password == nil || *r.Password == "" {
			return "", errors.New(`secret JSON has no "password" key`)
		}
		return *r.Password, nil
	}
	if v == "" {
		return "", errors.New("secret is empty")
	}
	return v, nil
}

// Invalidate drops the cached value of ep's secret, so the next Issue
// reads AWSCURRENT again (after a login failed with 1045).
func (s *Secrets) Invalidate(ep *config.Endpoint) {
	if ep.Password != nil {
		forget(&s.mu, s.cache, ep.Password.SecretsManager)
	}
}

// Pending returns the AWSPENDING value of ep's secret when a rotation is
// in progress: the stage exists and is another version than the AWSCURRENT
// one last read. ok is false when there is no rotation in progress (no
// AWSPENDING stage, or it is the current version). The value must be
// tried with a real login before it is handed out (Adopt).
func (s *Secrets) Pending(ctx context.Context, ep *config.Endpoint) (cred Credential, ok bool, err error) {
	if ep.Password == nil || ep.Password.SecretsManager == "" {
		return Credential{}, false, nil
	}
	id := ep.Password.SecretsManager
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stage := "AWSPENDING"
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id, VersionStage: &stage})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) { // no version has the stage: no rotation in progress
			return Credential{}, false, nil
		}
		return Credential{}, false, &SourceError{Endpoint: ep.Name, Source: "secretsmanager:" + id, Err: fmt.Errorf("get secret value (AWSPENDING): %w", err)}
	}
	s.mu.Lock()
	cur, cached := s.cache[id]
	s.mu.Unlock()
	if out.VersionId != nil && cached && cur.versionID == *out.VersionId {
		return Credential{}, false, nil
	}
	if out.SecretString == nil {
		return Credential{}, false, nil
	}
	pw, err := parseSecret(*out.SecretString)
	if err != nil {
		return Credential{}, false, &SourceError{Endpoint: ep.Name, Source: "secretsmanager:" + id, Err: fmt.Errorf("AWSPENDING: %w", err)}
	}
	return Credential{Kind: KindPassword, Secret: NewSecret(pw), Source: "secretsmanager:" + id}, true, nil
}

// Adopt makes cred, a pending value a real login has just accepted, the
// value Issue hands out for ep's secret until its secret_ttl ends; the
// next read after that finds AWSCURRENT moved to it.
func (s *Secrets) Adopt(ep *config.Endpoint, cred Credential) {
	if ep.Password == nil || ep.Password.SecretsManager == "" {
		return
	}
	s.mu.Lock()
	s.cache[ep.Password.SecretsManager] = secretEntry{secret: cred.Secret, versionID: "adopted-pending", readAt: s.now()}
	s.mu.Unlock()
}
