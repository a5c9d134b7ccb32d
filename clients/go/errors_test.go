package connbroker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestFromError(t *testing.T) {
	if FromError(nil) != nil {
		t.Error("FromError(nil) is not nil")
	}
	if err := FromError(context.Canceled); err != context.Canceled {
		t.Errorf("a context error became %v", err)
	}
	// Without an ErrorInfo (a broker that cannot be reached): by code.
	err := FromError(status.Error(codes.Unavailable, "connection refused"))
	if !errors.Is(err, ErrBrokerUnavailable) || errors.Is(err, ErrCredentialUnavailable) {
		t.Errorf("UNAVAILABLE without ErrorInfo: %v", err)
	}
	// Wrapping twice keeps one BrokerError.
	wrapped := fmt.Errorf("x: %w", err)
	if again := FromError(wrapped); again != wrapped {
		t.Errorf("FromError rewrapped %v", again)
	}
}
