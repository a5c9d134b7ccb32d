package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/connbroker/connbroker/broker/caller"
)

// logUnary logs one line per call: method, code, duration, peer, caller,
// endpoint. Successful calls are logged at DEBUG (a fleet asking for
// params at every new connection would otherwise write a line per
// connection at INFO); failures at WARN, internal errors at ERROR. Requests
// and responses are never logged (responses carry secrets).
func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if err == nil && !log.Enabled(ctx, slog.LevelDebug) {
			return resp, nil // nothing to log: build no attributes (BENCHMARKS.md)
		}
		st := status.Convert(err)
		attrs := []any{"method", info.FullMethod, "code", st.Code().String(), "duration", time.Since(start)}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			attrs = append(attrs, "peer", p.Addr.String())
		}
		if id, ok := caller.FromContext(ctx); ok {
			attrs = append(attrs, "caller", id.Name)
		}
		if e, ok := req.(interface{ GetEndpoint() string }); ok && e.GetEndpoint() != "" {
			attrs = append(attrs, "endpoint", e.GetEndpoint())
		}
		switch {
		case err == nil:
			log.DebugContext(ctx, "rpc", attrs...)
		case st.Code() == codes.Internal:
			log.ErrorContext(ctx, "rpc", append(attrs, "err", err)...)
		default:
			log.WarnContext(ctx, "rpc", append(attrs, "message", st.Message())...)
		}
		return resp, err
	}
}

// recoverUnary turns a panic into codes.Internal. The panic value is not
// logged (it could hold request data); the stack is.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// recoverStream is recoverUnary for streams.
func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}
