package credential

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/connbroker/connbroker/broker/config"
)

var staticCreds = credentials.NewStaticCredentialsProvider("AKIDTESTKEY000000001", "test-secret-key-never-printed", "")

func iamEndpoint() *config.Endpoint {
	return &config.Endpoint{Name: "orders", Host: "orders.proxy-abc.us-west-2.rds.amazonaws.com", Port: 3306, User: "app", Auth: config.AuthIAM, Region: "us-west-2"}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingBuilder signs fake tokens stamped with the clock, and can fail.
type countingBuilder struct {
	clock *fakeClock
	calls atomic.Int32
	fail  atomic.Bool
	delay time.Duration
}

func (b *countingBuilder) build(_ context.Context, endpoint, region, user string, _ aws.CredentialsProvider, _ ...func(*auth.BuildAuthTokenOptions)) (string, error) {
	n := b.calls.Add(1)
	time.Sleep(b.delay)
	if b.fail.Load() {
		return "", errors.New("no EC2 IMDS role found")
	}
	return fmt.Sprintf("%s?Action=connect&DBUser=%s&X-Amz-Date=%s&n=%d&region=%s", endpoint, user, b.clock.Now().UTC().Format("20060102T150405Z"), n, region), nil
}

func TestIAMRealToken(t *testing.T) {
	i := NewIAM(staticCreds)
	ep := iamEndpoint()
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	c, err := i.Issue(context.Background(), ep)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	tok := c.Secret.Reveal()
	for _, want := range []string{ep.Host + ":3306?", "Action=connect", "DBUser=app", "X-Amz-Expires=900", "%2Fus-west-2%2Frds-db%2Faws4_request", "X-Amz-Signature="} {
		if !strings.Contains(tok, want) {
			t.Errorf("token lacks %q: %s", want, tok)
		}
	}
	if c.Kind != KindIAMToken || c.Source != "iam" {
		t.Errorf("kind/source = %v/%q", c.Kind, c.Source)
	}
	if c.ExpiresAt.Before(before.Add(TokenLifetime)) || c.ExpiresAt.After(time.Now().Add(TokenLifetime)) {
		t.Errorf("ExpiresAt %v not 15 min after signing", c.ExpiresAt)
	}
	if got := c.RefreshAfter.Sub(c.ExpiresAt); got != DefaultRefreshAfter-TokenLifetime {
		t.Errorf("RefreshAfter is %v before expiry, want %v", -got, TokenLifetime-DefaultRefreshAfter)
	}
}

func TestIAMCacheRefreshAndStale(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	b := &countingBuilder{clock: clk}
	var logs strings.Builder
	i := NewIAM(staticCreds, WithClock(clk.Now), WithTokenBuilder(b.build), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ep := iamEndpoint()
	ctx := context.Background()

	first, err := i.Issue(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	if !first.ExpiresAt.Equal(clk.Now().Add(TokenLifetime)) {
		t.Errorf("ExpiresAt = %v, want signing time + 15m", first.ExpiresAt)
	}
	clk.Add(9 * time.Minute)
	hit, _ := i.Issue(ctx, ep)
	if hit.Secret.Reveal() != first.Secret.Reveal() || b.calls.Load() != 1 {
		t.Fatalf("within refresh window: got a new token (calls=%d)", b.calls.Load())
	}
	if first.Cached || !hit.Cached {
		t.Errorf("Cached: signed %v, cache hit %v; want false, true", first.Cached, hit.Cached)
	}
	other := *ep
	other.User = "other"
	if o, _ := i.Issue(ctx, &other); o.Secret.Reveal() == first.Secret.Reveal() || b.calls.Load() != 2 {
		t.Fatalf("different user shared a cached token")
	}
	clk.Add(2 * time.Minute) // 11 min: past refresh_after
	fresh, _ := i.Issue(ctx, ep)
	if fresh.Secret.Reveal() == first.Secret.Reveal() {
		t.Fatal("past refresh_after: token was not refreshed")
	}
	// The source fails: the still-valid cached token is served, marked stale.
	b.fail.Store(true)
	clk.Add(11 * time.Minute)
	stale, err := i.Issue(ctx, ep)
	if err != nil || !stale.Stale || !stale.Cached || stale.Secret.Reveal() != fresh.Secret.Reveal() {
		t.Fatalf("stale serve: cred=%+v err=%v", stale, err)
	}
	if !strings.Contains(logs.String(), "serving cached IAM token") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	// Once expired: unavailable.
	clk.Add(4 * time.Minute)
	_, err = i.Issue(ctx, ep)
	var se *SourceError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &se) || se.Endpoint != "orders" {
		t.Fatalf("expired + failing source: err = %v, want ErrUnavailable", err)
	}
	// Recovery is automatic.
	b.fail.Store(false)
	if c, err := i.Issue(ctx, ep); err != nil || c.Stale {
		t.Fatalf("after recovery: %+v %v", c, err)
	}
}

func TestIAMSingleFlight(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b := &countingBuilder{clock: clk, delay: 50 * time.Millisecond}
	i := NewIAM(staticCreds, WithClock(clk.Now), WithTokenBuilder(b.build))
	var wg sync.WaitGroup
	toks := make([]string, 32)
	for n := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := i.Issue(context.Background(), iamEndpoint())
			if err != nil {
				t.Error(err)
				return
			}
			toks[n] = c.Secret.Reveal()
		}()
	}
	wg.Wait()
	if got := b.calls.Load(); got != 1 {
		t.Errorf("32 concurrent cold requests signed %d tokens, want 1", got)
	}
	for _, tk := range toks[1:] {
		if tk != toks[0] {
			t.Fatal("concurrent callers got different tokens")
		}
	}
}

func TestIAMCallerContextCancelled(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b := &countingBuilder{clock: clk, delay: 200 * time.Millisecond}
	i := NewIAM(staticCreds, WithClock(clk.Now), WithTokenBuilder(b.build))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := i.Issue(ctx, iamEndpoint()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestPasswords(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("first-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DB_PW": "env-secret"}
	p := NewPasswords(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fileEP := &config.Endpoint{Name: "f", Auth: config.AuthPassword, Password: &config.PasswordSource{File: f}}
	envEP := &config.Endpoint{Name: "e", Auth: config.AuthPassword, Password: &config.PasswordSource{Env: "DB_PW"}}
	ctx := context.Background()

	c, err := p.Issue(ctx, fileEP)
	if err != nil || c.Secret.Reveal() != "first-secret" || c.Kind != KindPassword || c.Source != "file:"+f || c.Cached {
		t.Fatalf("file: %+v %v", c, err)
	}
	if c, err := p.Issue(ctx, fileEP); err != nil || c.Secret.Reveal() != "first-secret" || !c.Cached {
		t.Errorf("unchanged file: %+v %v, want the cached password", c, err)
	}
	// Rotation: a new file content is picked up without a restart.
	if err := os.WriteFile(f, []byte("second-secret-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Issue(ctx, fileEP); c.Secret.Reveal() != "second-secret-longer" || c.Cached {
		t.Errorf("after rewrite got the old password, or a cached one")
	}
	// Atomic replace (rename), as Kubernetes does.
	tmp := filepath.Join(dir, "pw.new")
	os.WriteFile(tmp, []byte("third\n"), 0o600)
	os.Rename(tmp, f)
	if c, _ := p.Issue(ctx, fileEP); c.Secret.Reveal() != "third" {
		t.Errorf("after rename got %q", c.Secret.Reveal())
	}
	if c, err := p.Issue(ctx, envEP); err != nil || c.Secret.Reveal() != "env-secret" || c.Source != "env:DB_PW" {
		t.Errorf("env: %+v %v", c, err)
	}
	delete(env, "DB_PW")
	if _, err := p.Issue(ctx, envEP); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "env:DB_PW") {
		t.Errorf("unset env: %v", err)
	}
	os.Remove(f)
	if _, err := p.Issue(ctx, fileEP); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), f) {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(f, nil, 0o600)
	if _, err := p.Issue(ctx, fileEP); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2-token")
	c := Credential{Kind: KindPassword, Secret: s}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "cred", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s, "cred", c)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, c, c, s, s, s), logs.String(), fmt.Sprintf("%+v", &c)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2-token" {
		t.Error("Reveal lost the value")
	}
}
