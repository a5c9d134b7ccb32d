package server

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/connbroker/connbroker/broker"
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
