package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// awsConns tracks the connections the AWS clients dial, so that run can
// close them when it returns: the SDK's transports keep idle connections
// for 90 s and cannot be reached to close them (every BuildableClient
// copies its transport). A client built with WithDialerOptions (a
// non-legacy AWS_DEFAULTS_MODE) dials untracked.
type awsConns struct {
	mu     sync.Mutex
	m      map[*trackedConn]struct{}
	closed bool
}

// errAWSClosed is returned for a dial after run has ended.
var errAWSClosed = errors.New("connbrokerd is stopping: AWS connections are closed")

// track is an awshttp transport option: tr's dials are tracked.
func (a *awsConns) track(tr *http.Transport) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.closed {
			c.Close()
			return nil, errAWSClosed
		}
		tc := &trackedConn{Conn: c, a: a}
		a.m[tc] = struct{}{}
		return tc, nil
	}
}

// Close closes every tracked connection; later dials fail.
func (a *awsConns) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for c := range a.m {
		c.Conn.Close()
	}
	clear(a.m)
}

// trackedConn is a dialled AWS connection that forgets itself on Close.
type trackedConn struct {
	net.Conn
	a *awsConns
}

func (c *trackedConn) Close() error {
	c.a.mu.Lock()
	delete(c.a.m, c)
	c.a.mu.Unlock()
	return c.Conn.Close()
}
