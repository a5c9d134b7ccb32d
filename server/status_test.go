package server

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

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

// TestEnumsCover checks that each domain-to-enum table reaches every value
// of its proto enum (but UNSPECIFIED, and MYSQL for the non-RDS names), once:
// a value added to the proto without a domain counterpart, or two domain
// values sent as one, fails here.
func TestEnumsCover(t *testing.T) {
	cover := func(name string, got []protoreflect.EnumNumber, desc protoreflect.EnumDescriptor, extra ...protoreflect.EnumNumber) {
		t.Helper()
		seen := map[protoreflect.EnumNumber]bool{}
		for _, n := range append(got, extra...) {
			if n == 0 {
				t.Errorf("%s: a domain value maps to UNSPECIFIED", name)
			}
			if seen[n] {
				t.Errorf("%s: %s is sent for two domain values", name, desc.Values().ByNumber(n).Name())
			}
			seen[n] = true
		}
		for i := range desc.Values().Len() {
			if v := desc.Values().Get(i); v.Number() != 0 && !seen[v.Number()] {
				t.Errorf("%s: %s is never sent", name, v.Name())
			}
		}
	}
	cover("HandshakeResult", numbers(handshakeResults), v1.HandshakeResult(0).Descriptor())
	cover("EventDirection", numbers(eventDirections), v1.EventDirection(0).Descriptor())
	cover("EventKind", numbers(eventKinds), v1.EventKind(0).Descriptor())
	cover("EndpointKind", numbers(endpointKinds), v1.EndpointKind(0).Descriptor(), protoreflect.EnumNumber(v1.EndpointKind_ENDPOINT_KIND_MYSQL))
	cover("AWSPartition", numbers(partitions), v1.AWSPartition(0).Descriptor())
	cover("StageName", numbers(stageNames), v1.StageName(0).Descriptor())
	cover("EvidenceSource", numbers(evidenceSources), v1.EvidenceSource(0).Descriptor())
}

func numbers[K comparable, E interface {
	Number() protoreflect.EnumNumber
}](m map[K]E) []protoreflect.EnumNumber {
	out := make([]protoreflect.EnumNumber, 0, len(m))
	for _, e := range m {
		out = append(out, e.Number())
	}
	return out
}
