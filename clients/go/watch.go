package connbroker

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Watcher keeps the newest connection params of one endpoint, pushed by the
// broker's WatchConnectionParams stream (at refresh_after and on rotation),
// so a connector can read them without a round trip. It reconnects with
// back-off when the stream ends, and stops for good on errors that
// retrying cannot fix (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT,
// UNAUTHENTICATED), which Params then returns.
type Watcher struct {
	client           v1.BrokerServiceClient
	endpoint, driver string
	cancel           context.CancelFunc
	done             chan struct{}

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every update
	params  *v1.ConnectionParams
	reason  v1.WatchReason
	updates int
	err     error
}

// Watch starts watching endpoint (hints for driver; "" for none) until
// Close or ctx ends.
func Watch(ctx context.Context, client v1.BrokerServiceClient, endpoint, driver string) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{client: client, endpoint: endpoint, driver: driver, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	go w.run(ctx)
	return w
}

// Params returns the newest params, waiting for the first until ctx ends.
// The secret is in params.Credential.Secret: never log it.
func (w *Watcher) Params(ctx context.Context) (*v1.ConnectionParams, error) {
	for {
		w.mu.Lock()
		p, err, ch := w.params, w.err, w.changed
		w.mu.Unlock()
		switch {
		case err != nil:
			return nil, FromError(err)
		case p != nil:
			return p, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Updates returns how many params sets were received and the reason of the
// newest, plus a channel closed at the next update.
func (w *Watcher) Updates() (n int, last v1.WatchReason, next <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.updates, w.reason, w.changed
}

// Close stops watching and waits for the background goroutine.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

func fatal(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.PermissionDenied, codes.InvalidArgument, codes.Unauthenticated:
		return true
	}
	return false
}

func (w *Watcher) update(fn func()) {
	w.mu.Lock()
	fn()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	const minBackoff, maxBackoff = 200 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		err := w.stream(ctx, func() { backoff = minBackoff })
		if fatal(err) {
			w.update(func() { w.err = err })
			return
		}
		// Anything else (io.EOF at a broker shutdown, UNAVAILABLE while it
		// restarts) is retried after the back-off.
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// stream runs one WatchConnectionParams stream until it ends.
func (w *Watcher) stream(ctx context.Context, received func()) error {
	s, err := w.client.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: w.endpoint, Driver: w.driver})
	if err != nil {
		return err
	}
	for {
		m, err := s.Recv()
		if err != nil {
			return err
		}
		received()
		w.update(func() { w.params, w.reason = m.GetParams(), m.GetReason(); w.updates++ })
	}
}
