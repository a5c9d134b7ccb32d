package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cmdline "github.com/connbroker/connbroker/internal/cli"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Reconnect backoff of watchParams: from watchBackoffMin, doubling, at
// most watchBackoffMax, with up to 20% jitter; back to the minimum after a
// message.
var (
	watchBackoffMin = time.Second
	watchBackoffMax = 30 * time.Second
)

// watchParams calls fn with the endpoint's params as WatchConnectionParams
// sends them: at once, at each refresh_after and at each rotation, until
// ctx ends (then it returns nil).
//
// Unless retryFirst, an error before the first params have been handled is
// returned (mapped like any broker call: exit 2 unknown endpoint, 3
// broker unreachable, 1 no credential), as is an error fn returns for them.
// After that (or from the start with retryFirst), a stream that ends (the
// broker shut down or went away, or the params cannot be had) is reopened
// with backoff, and fn's errors are reported on g.errOut and the next
// params tried: a long-running watcher keeps the last good files.
func (g *globals) watchParams(ctx context.Context, endpoint, driverName string, retryFirst bool, fn func(*v1.ConnectionParams, v1.WatchReason) error) error {
	conn, err := g.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	cl := v1.NewBrokerServiceClient(conn)
	started := retryFirst
	backoff := watchBackoffMin
	for {
		got, err := g.watchOnce(ctx, cl, endpoint, driverName, !started, func(p *v1.ConnectionParams, r v1.WatchReason) error {
			err := fn(p, r)
			if err == nil {
				started = true
				backoff = watchBackoffMin
				return nil
			}
			if !started {
				return err
			}
			fmt.Fprintf(g.errOut, "connbroker: %s: %v (keeping the previous files; next try at the next refresh)\n", endpoint, err)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if !started {
			var ee *cmdline.Error
			if errors.As(err, &ee) {
				return err
			}
			if noCredential(err) {
				return &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: no credential: %s", endpoint, status.Convert(err).Message())}
			}
			if _, ok := status.FromError(err); ok && err != nil {
				return g.rpcError(err)
			}
			return err
		}
		if got {
			backoff = watchBackoffMin
		}
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)/5+1))
		why := "the broker ended the stream"
		if err != nil {
			why = status.Convert(err).Message()
			if c := status.Code(err); c != codes.Unknown {
				why = c.String() + ": " + why
			}
		}
		fmt.Fprintf(g.errOut, "connbroker: watch %s: %s; reconnecting in %s\n", endpoint, why, wait.Round(100*time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

// watchOnce runs one WatchConnectionParams stream, calling fn for each
// message, and returns whether any came and why the stream ended (nil when
// the broker ended it with OK). With firstDeadline, the first message must
// come within g.timeout.
func (g *globals) watchOnce(ctx context.Context, cl v1.BrokerServiceClient, endpoint, driverName string, firstDeadline bool, fn func(*v1.ConnectionParams, v1.WatchReason) error) (got bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(g.timeout, func() { cancel(errFirstTimeout) })
	if !firstDeadline {
		timer.Stop()
	}
	defer timer.Stop()
	defer func() {
		if err != nil && context.Cause(sctx) == errFirstTimeout {
			err = status.Errorf(codes.DeadlineExceeded, "no params within %s", g.timeout)
		}
	}()
	stream, err := cl.WatchConnectionParams(sctx, &v1.WatchConnectionParamsRequest{Endpoint: endpoint, Driver: driverName})
	if err != nil {
		return false, err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		timer.Stop()
		got = true
		p := resp.GetParams()
		if p.GetCredential().GetSecret() == "" {
			err = &cmdline.Error{Code: cmdline.Failed, Err: fmt.Errorf("endpoint %s: the broker sent no credential", endpoint)}
		} else {
			err = fn(p, resp.GetReason())
		}
		if err != nil {
			return got, err
		}
	}
}

// errFirstTimeout is the cause of a stream cancelled because its first
// message did not come within --timeout.
var errFirstTimeout = errors.New("first params timeout")
