package goclient_test

import (
	"context"
	"errors"
	"fmt"
	connbroker "github.com/connbroker/connbroker/clients/go"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/internal/testbroker"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// errorsBrokerConfig is a broker whose Unix socket identifies this process
// as uid:N, allowed the endpoints "app-*" only, and that issues at most
// burst credentials per caller (then one per 1000 s).
func errorsBrokerConfig(sock, pw string, burst int) string {
	return fmt.Sprintf(`unix: {path: %s}
limits: {issue_rate: 0.001, issue_burst: %d}
policy:
  - caller: 'uid:%d'
    endpoints: ['app-*']
endpoints:
  app-open:
    host: 127.0.0.1
    user: app
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
  secret:
    host: 127.0.0.1
    user: other
    auth: password
    password: {file: %s}
    tls: {mode: disabled}
`, sock, burst, os.Getuid(), pw, pw)
}

// TestConnectorErrorsByReason checks that the connector turns each broker
// refusal, from a real broker, into the error of its ErrorReason.
func TestConnectorErrorsByReason(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("errors-go"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "b.sock")
	br, stop, err := testbroker.NewWith(errorsBrokerConfig(sock, pw, 3), testbroker.Options{UnixSocket: sock})
	if err != nil {
		t.Fatalf("testbroker: %v", err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	all := []error{connbroker.ErrEndpointNotFound, connbroker.ErrInvalidArgument, connbroker.ErrCredentialUnavailable, connbroker.ErrBrokerInternal, connbroker.ErrAuthUndecided,
		connbroker.ErrPermissionDenied, connbroker.ErrRateLimited, connbroker.ErrUnauthenticated, connbroker.ErrBrokerUnavailable}
	// In order: each call takes one of the 3 credentials of the burst, so
	// the fourth is rate-limited.
	for _, tc := range []struct {
		endpoint string
		want     error
		reason   v1.ErrorReason
		code     codes.Code
		meta     map[string]string
	}{
		{"app-missing", connbroker.ErrEndpointNotFound, v1.ErrorReason_ERROR_REASON_ENDPOINT_NOT_FOUND, codes.NotFound, map[string]string{"endpoint": "app-missing"}},
		{"secret", connbroker.ErrPermissionDenied, v1.ErrorReason_ERROR_REASON_PERMISSION_DENIED, codes.PermissionDenied, map[string]string{"endpoint": "secret"}},
		{"app open!", connbroker.ErrInvalidArgument, v1.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, codes.InvalidArgument, map[string]string{"field": "endpoint"}},
		{"app-open", connbroker.ErrRateLimited, v1.ErrorReason_ERROR_REASON_RATE_LIMITED, codes.ResourceExhausted, nil},
	} {
		t.Run(tc.reason.String(), func(t *testing.T) {
			_, err := connbroker.Connector(br.UnixClient, tc.endpoint).(configSource).Config(ctx)
			var be *connbroker.BrokerError
			if !errors.As(err, &be) {
				t.Fatalf("error %v (%T) is no *BrokerError", err, err)
			}
			if be.Reason != tc.reason || be.Code != tc.code || status.Code(err) != tc.code {
				t.Errorf("reason %v code %v (status.Code %v), want %v %v", be.Reason, be.Code, status.Code(err), tc.reason, tc.code)
			}
			for _, k := range []string{"endpoint", "field"} {
				if be.Metadata[k] != tc.meta[k] {
					t.Errorf("metadata %v, want %v", be.Metadata, tc.meta)
				}
			}
			for _, sentinel := range all {
				if got := errors.Is(err, sentinel); got != (sentinel == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, got)
				}
			}
		})
	}
}
