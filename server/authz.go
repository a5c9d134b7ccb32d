package server

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/caller"
)

// identityFromPeer returns the caller identity of a verified client
// certificate on the connection, if there is one. ok is false for a
// connection without a verified client certificate (plaintext loopback,
// or server-only TLS).
func identityFromPeer(ctx context.Context) (id caller.Identity, ok bool, err error) {
	p, found := peer.FromContext(ctx)
	if !found {
		return caller.Identity{}, false, nil
	}
	if pc, isUnix := p.AuthInfo.(PeerCredInfo); isUnix {
		return caller.FromUID(pc.UID), true, nil
	}
	ti, isTLS := p.AuthInfo.(credentials.TLSInfo)
	if !isTLS || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return caller.Identity{}, false, nil
	}
	leaf := ti.State.VerifiedChains[0][0]
	id, err = caller.FromCertificate(leaf)
	if err != nil {
		return caller.Identity{}, false, fmt.Errorf("identify caller %s: %w", subject(leaf), err)
	}
	return id, true, nil
}

func subject(c *x509.Certificate) string { return "(subject " + c.Subject.String() + ")" }

// identifyUnary puts the caller identity from the client certificate into
// the context as a caller.Identity. A verified certificate without a usable
// identity is refused with UNAUTHENTICATED (and reported to svc's event
// stream). Authorisation itself happens in
// the domain (broker), against the policy of the current configuration.
func identifyUnary(svc *broker.Service) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id, ok, err := identityFromPeer(ctx)
		if err != nil {
			svc.Unidentified(ctx, endpointOfRequest(req), err)
			return nil, toStatus(err)
		}
		if ok {
			ctx = caller.NewContext(ctx, id)
		}
		return handler(ctx, req)
	}
}

// identifyStream is identifyUnary for streams.
func identifyStream(svc *broker.Service) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		id, ok, err := identityFromPeer(ss.Context())
		if err != nil {
			svc.Unidentified(ss.Context(), "", err)
			return toStatus(err)
		}
		if ok {
			ss = &ctxStream{ServerStream: ss, ctx: caller.NewContext(ss.Context(), id)}
		}
		return handler(srv, ss)
	}
}

// ctxStream overrides a stream's context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
