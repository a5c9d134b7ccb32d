package server

import (
	"context"

	"google.golang.org/grpc"
)

// endStreamsOn cancels the context of every stream (health watches
// included) when shutdown is closed, so a graceful stop does not wait for
// streams that would otherwise run forever.
func endStreamsOn(shutdown <-chan struct{}) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if shutdown == nil {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		go func() {
			select {
			case <-shutdown:
				cancel()
			case <-ctx.Done():
			}
		}()
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}
