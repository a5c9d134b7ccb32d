package server

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/broker/resolve"
)

// ErrorDomain is the errdetails.ErrorInfo domain of connbroker errors.
const ErrorDomain = "connbroker.dev"

// Stable ErrorInfo reasons: the names of the v1.ErrorReason values
// (TestReasonsAreEnumNames keeps them so), which clients map to their own
// error classes.
const (
	ReasonEndpointNotFound      = "ERROR_REASON_ENDPOINT_NOT_FOUND"
	ReasonInvalidArgument       = "ERROR_REASON_INVALID_ARGUMENT"
	ReasonCredentialUnavailable = "ERROR_REASON_CREDENTIAL_UNAVAILABLE"
	ReasonInternal              = "ERROR_REASON_INTERNAL"
	ReasonAuthUndecided         = "ERROR_REASON_AUTH_UNDECIDED"
	ReasonPermissionDenied      = "ERROR_REASON_PERMISSION_DENIED"
	ReasonRateLimited           = "ERROR_REASON_RATE_LIMITED"
	ReasonUnauthenticated       = "ERROR_REASON_UNAUTHENTICATED"
	ReasonAuditUnavailable      = "ERROR_REASON_AUDIT_UNAVAILABLE"
	ReasonInventoryOff          = "ERROR_REASON_INVENTORY_OFF"
)

// toStatus maps a domain error to a gRPC status error: the one place where
// codes are chosen. Messages come from domain errors, which never carry a
// secret.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	var (
		code   codes.Code
		reason string
		msg    = err.Error()
		meta   map[string]string
	)
	var nf *broker.NotFoundError
	var arg *broker.ArgError
	var denied *broker.DeniedError
	switch {
	case errors.As(err, &denied):
		code, reason, meta = codes.PermissionDenied, ReasonPermissionDenied, map[string]string{"endpoint": denied.Endpoint}
	case errors.Is(err, errRateLimited):
		code, reason = codes.ResourceExhausted, ReasonRateLimited
	case errors.Is(err, caller.ErrNoIdentity):
		code, reason = codes.Unauthenticated, ReasonUnauthenticated
	case errors.As(err, &nf):
		code, reason, meta = codes.NotFound, ReasonEndpointNotFound, map[string]string{"endpoint": nf.Endpoint}
	case errors.As(err, &arg):
		code, reason, meta = codes.InvalidArgument, ReasonInvalidArgument, map[string]string{"field": arg.Field}
	case errors.Is(err, errAuditFailed):
		code, reason = codes.Unavailable, ReasonAuditUnavailable
	case errors.Is(err, credential.ErrUnavailable):
		// Only a safe message: an AWS error names the role ARN and the
		// account, a source names a path or a secret ARN (Server.fail logs
		// them in full).
		code, reason, msg = codes.Unavailable, ReasonCredentialUnavailable, credential.SafeMessage(err)
	case errors.Is(err, resolve.ErrUndecided):
		code, reason = codes.FailedPrecondition, ReasonAuthUndecided
	case errors.Is(err, preflight.ErrNoInventory):
		code, reason = codes.FailedPrecondition, ReasonInventoryOff
	default:
		code, reason, msg = codes.Internal, ReasonInternal, "internal error"
	}
	st := status.New(code, msg)
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}); derr == nil {
		st = d
	}
	return st.Err()
}
