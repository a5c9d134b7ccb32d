package connbroker

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of the broker's errors.
const ErrorDomain = "connbroker.dev"

// Errors a broker call can end with, one per v1.ErrorReason; match them
// with errors.Is on any error of this package.
var (
	// ErrEndpointNotFound: no endpoint of that name. Do not retry.
	ErrEndpointNotFound = errors.New("endpoint not found")
	// ErrInvalidArgument: a request field is wrong, e.g. an unknown driver
	// (BrokerError.Metadata["field"] names it). Do not retry.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrCredentialUnavailable: the broker's credential source failed and it
	// has no valid cached credential. Retry with backoff.
	ErrCredentialUnavailable = errors.New("credential unavailable")
	// ErrBrokerInternal: a broker bug; its log has the details. Do not retry.
	ErrBrokerInternal = errors.New("broker internal error")
	// ErrAuthUndecided: an "auth: auto" endpoint could not be resolved. Do
	// not retry: set the endpoint's auth.
	ErrAuthUndecided = errors.New("auth method undecided")
	// ErrInventoryOff: the broker keeps no inventory, so it cannot
	// preflight. Do not retry.
	ErrInventoryOff = errors.New("inventory is off")
	// ErrPermissionDenied: the policy refuses this caller the endpoint. Do
	// not retry.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrRateLimited: the caller asked for credentials faster than the
	// broker's limits.issue_rate. Retry after a short back-off.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnauthenticated: the client certificate carries no usable
	// identity. Do not retry. It also matches ErrPermissionDenied.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrBrokerUnavailable: the broker could not be reached or did not
	// answer in time. Retry with backoff. ErrCredentialUnavailable also
	// matches it.
	ErrBrokerUnavailable = errors.New("broker unavailable")
)

var reasonErrors = map[v1.ErrorReason]error{
	v1.ErrorReason_ERROR_REASON_ENDPOINT_NOT_FOUND:     ErrEndpointNotFound,
	v1.ErrorReason_ERROR_REASON_INVALID_ARGUMENT:       ErrInvalidArgument,
	v1.ErrorReason_ERROR_REASON_CREDENTIAL_UNAVAILABLE: ErrCredentialUnavailable,
	v1.ErrorReason_ERROR_REASON_INTERNAL:               ErrBrokerInternal,
	v1.ErrorReason_ERROR_REASON_AUTH_UNDECIDED:         ErrAuthUndecided,
	v1.ErrorReason_ERROR_REASON_PERMISSION_DENIED:      ErrPermissionDenied,
	v1.ErrorReason_ERROR_REASON_RATE_LIMITED:           ErrRateLimited,
	v1.ErrorReason_ERROR_REASON_UNAUTHENTICATED:        ErrUnauthenticated,
	v1.ErrorReason_ERROR_REASON_AUDIT_UNAVAILABLE:      ErrBrokerUnavailable,
	v1.ErrorReason_ERROR_REASON_INVENTORY_OFF:          ErrInventoryOff,
}

// codeErrors classify errors without a connbroker ErrorInfo (a broker that
// cannot be reached, a proxy in between). RESOURCE_EXHAUSTED is not among
// them: without the broker's reason it is a message size limit, not a rate
// limit.
var codeErrors = map[codes.Code]error{
	codes.NotFound:         ErrEndpointNotFound,
	codes.InvalidArgument:  ErrInvalidArgument,
	codes.PermissionDenied: ErrPermissionDenied,
	codes.Unauthenticated:  ErrUnauthenticated,
	codes.Unavailable:      ErrBrokerUnavailable,
	codes.DeadlineExceeded: ErrBrokerUnavailable,
	codes.Internal:         ErrBrokerInternal,
}

// BrokerError is a failed broker call: the broker's reason, the gRPC code
// and the broker's message (safe to log: it never holds a secret). It
// unwraps to the gRPC status error, so status.Code still works.
type BrokerError struct {
	// Reason is the broker's stable reason; UNSPECIFIED when the status
	// carried no connbroker ErrorInfo.
	Reason v1.ErrorReason
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the broker's status message.
	Message string
	// Metadata is the ErrorInfo metadata, e.g. "endpoint" or "field".
	Metadata map[string]string

	kind error // the sentinel it matches
	err  error // the status error
}

func (e *BrokerError) Error() string {
	if e.Reason != v1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		return e.kind.Error() + ": " + e.Message
	}
	return e.Code.String() + ": " + e.Message
}

// Is matches the sentinel of the error's reason (or, without one, of its
// code); ErrUnauthenticated also matches ErrPermissionDenied and
// ErrCredentialUnavailable ErrBrokerUnavailable.
func (e *BrokerError) Is(target error) bool {
	switch {
	case e.kind == nil:
		return false
	case target == e.kind:
		return true
	case e.kind == ErrUnauthenticated:
		return target == ErrPermissionDenied
	case e.kind == ErrCredentialUnavailable:
		return target == ErrBrokerUnavailable
	}
	return false
}

// Unwrap returns the gRPC status error.
func (e *BrokerError) Unwrap() error { return e.err }

// GRPCStatus returns the call's status.
func (e *BrokerError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// FromError returns err as a *BrokerError when it is a gRPC status error
// (directly or wrapped), and err unchanged otherwise (nil stays nil,
// context errors stay context errors).
func FromError(err error) error {
	var be *BrokerError
	if err == nil || errors.As(err, &be) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	out := &BrokerError{Code: st.Code(), Message: st.Message(), err: err}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			if r, known := v1.ErrorReason_value[info.GetReason()]; known {
				out.Reason = v1.ErrorReason(r)
			}
			out.Metadata = info.GetMetadata()
			break
		}
	}
	out.kind = reasonErrors[out.Reason]
	if out.kind == nil {
		out.kind = codeErrors[out.Code]
	}
	return out
}
