package goclient_test

import (
	"context"
	"fmt"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/internal/testbroker"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("watch-go-first"), 0o600); err != nil {
		t.Fatal(err)
	}
	br := testbroker.Start(t, fmt.Sprintf(`watch: {poll: 100ms}
endpoints:
  db:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, pw))
	// Connect first, so the baseline includes the connection's goroutines.
	if _, err := br.Client.ListEndpoints(context.Background(), &v1.ListEndpointsRequest{}); err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	w := connbroker.Watch(ctx, br.Client, "db", "go-sql-driver")
	p, err := w.Params(ctx)
	if err != nil || p.GetCredential().GetSecret() != "watch-go-first" {
		t.Fatalf("first params: %v", err)
	}
	n, reason, next := w.Updates()
	if n != 1 || reason != v1.WatchReason_WATCH_REASON_INITIAL {
		t.Errorf("updates %d reason %v", n, reason)
	}
	if err := os.WriteFile(pw, []byte("watch-go-rotated!"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	case <-time.After(5 * time.Second):
		t.Fatal("no update after rotation")
	}
	p, _ = w.Params(ctx)
	if _, reason, _ := w.Updates(); p.GetCredential().GetSecret() != "watch-go-rotated!" || reason != v1.WatchReason_WATCH_REASON_ROTATED {
		t.Errorf("after rotation: reason %v", reason)
	}
	w.Close()

	bad := connbroker.Watch(ctx, br.Client, "nope", "")
	if _, err := bad.Params(ctx); status.Code(err) != codes.NotFound {
		t.Errorf("unknown endpoint: %v, want NotFound", err)
	}
	bad.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base+2 {
		t.Errorf("goroutines %d after Close, baseline %d", g, base)
	}
}
