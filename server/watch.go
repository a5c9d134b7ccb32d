package server

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// WatchConnectionParams implements the RPC: it adapts broker.Service.Watch
// to the stream and ends the stream with OK when the server shuts down.
func (s *Server) WatchConnectionParams(req *v1.WatchConnectionParamsRequest, stream grpc.ServerStreamingServer[v1.WatchConnectionParamsResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	shuttingDown := make(chan struct{})
	if s.shutdown != nil {
		go func() {
			select {
			case <-s.shutdown:
				close(shuttingDown)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	poll := s.watchPoll
	if poll == 0 {
		poll = s.svc.Config().Watch.Poll
	}
	err := s.svc.Watch(ctx, req.GetEndpoint(), req.GetDriver(), poll, func(p *broker.Params, r broker.WatchReason) error {
		pp, err := paramsToProto(p, nil)
		if err != nil {
			return err
		}
		return stream.Send(&v1.WatchConnectionParamsResponse{Params: pp, Reason: watchReasonToProto(r)})
	})
	select {
	case <-shuttingDown:
		return nil
	default:
	}
	if errors.Is(err, context.Canceled) && stream.Context().Err() != nil {
		return nil // the client went away
	}
	return s.fail(ctx, "WatchConnectionParams", err)
}

// auditStream writes one credential_issued event per params sent on a
// watch, and a denied or issue_failed event when a watch ends with an
// error.
func auditStream(a *Auditor, cfg func() *config.Config) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if a == nil || info.FullMethod != v1.BrokerService_WatchConnectionParams_FullMethodName {
			return handler(srv, ss)
		}
		markAudited(ss.Context())
		as := &auditedStream{ServerStream: ss, a: a, method: info.FullMethod}
		err := handler(srv, as)
		if err != nil {
			e := baseEvent(ss.Context(), info.FullMethod, err)
			e.Endpoint = as.endpoint
			if ep := cfg().Endpoints[e.Endpoint]; ep != nil {
				e.DBUser = ep.User
			}
			if e.Event == "" {
				e.Event = AuditIssueFailed
			}
			a.Write(e)
		}
		return err
	}
}

// auditedStream records the request's endpoint and audits every send.
type auditedStream struct {
	grpc.ServerStream
	a        *Auditor
	method   string
	endpoint string
}

func (s *auditedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if r, ok := m.(*v1.WatchConnectionParamsRequest); ok && err == nil {
		s.endpoint = r.GetEndpoint()
	}
	return err
}

// SendMsg audits each params message before it is sent: with
// audit.on_error: deny, a credential whose event cannot be written is not
// sent and the stream ends with UNAVAILABLE. A failed send is audited
// again as issue_failed.
func (s *auditedStream) SendMsg(m any) error {
	r, ok := m.(*v1.WatchConnectionParamsResponse)
	if !ok {
		return s.ServerStream.SendMsg(m)
	}
	e := baseEvent(s.Context(), s.method, nil)
	p := r.GetParams()
	e.Event, e.Endpoint, e.DBUser = AuditCredentialIssued, p.GetEndpoint(), p.GetUser()
	fillCredential(&e, p.GetCredential())
	if err := s.a.issue(e); err != nil {
		return toStatus(err)
	}
	err := s.ServerStream.SendMsg(m)
	if err != nil {
		e.Event, e.Outcome, e.Reason = AuditIssueFailed, OutcomeFailed, "send: "+err.Error()
		s.a.Write(e)
	}
	return err
}
