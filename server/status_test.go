package server

import (
	"testing"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestReasonsAreEnumNames checks that every ErrorInfo reason the broker
// sends is the name of a v1.ErrorReason value, and that every value but
// UNSPECIFIED is sent for some error, so clients can map all of them.
func TestReasonsAreEnumNames(t *testing.T) {
	reasons := []string{ReasonEndpointNotFound, ReasonInvalidArgument, ReasonCredentialUnavailable, ReasonInternal,
		ReasonAuthUndecided, ReasonPermissionDenied, ReasonRateLimited, ReasonUnauthenticated}
	seen := map[string]bool{}
	for _, r := range reasons {
		if _, ok := v1.ErrorReason_value[r]; !ok {
			t.Errorf("reason %q is not a v1.ErrorReason value name", r)
		}
		seen[r] = true
	}
	for name, n := range v1.ErrorReason_value {
		if n != 0 && !seen[name] {
			t.Errorf("v1.ErrorReason %s has no Reason constant: toStatus never sends it", name)
		}
	}
}
