package connbroker

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// ServiceConfig is the gRPC service config NewClient sets: round_robin
// over every broker address, and UNAVAILABLE retried up to 4 attempts
// within the call's deadline, waiting a random time between 0 and a backoff
// that doubles from 0.1 s to 1 s (gRPC's retry jitter, gRFC A6).
const ServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "connbroker.v1.BrokerService"}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// Client is a BrokerServiceClient on its own channel that knows its target
// (for messages). Close it when done.
type Client struct {
	v1.BrokerServiceClient
	conn   *grpc.ClientConn
	target string
}

// Target returns the broker address the client was made for.
func (c *Client) Target() string { return c.target }

// Close closes the channel.
func (c *Client) Close() error { return c.conn.Close() }

var staticSeq atomic.Uint64

// NewClient opens a (lazy) channel to the broker with ServiceConfig and a
// short reconnect backoff (0.2 s growing to 2 s, so a restarted broker is
// found again within about 2 s). target is a gRPC target such as
// "dns:///connbroker.ns.svc:7700" (every address of the name) or
// "127.0.0.1:7700", or a comma-separated list "10.0.0.1:7700,10.0.0.2:7700"
// (host names allowed; a static resolver). opts must include the transport
// credentials (grpc.WithTransportCredentials).
func NewClient(target string, opts ...grpc.DialOption) (*Client, error) {
	dialTarget := strings.TrimSpace(target)
	all := []grpc.DialOption{
		grpc.WithDefaultServiceConfig(ServiceConfig),
		// The broker's messages are (un)marshalled by the generated
		// vtprotobuf code, the others by gRPC's proto codec (v1.Codec).
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(v1.Codec{})),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if strings.Contains(dialTarget, ",") {
		addrs, err := splitAddresses(dialTarget)
		if err != nil {
			return nil, err
		}
		r := manual.NewBuilderWithScheme(fmt.Sprintf("connbroker-static-%d", staticSeq.Add(1)))
		r.InitialState(resolver.State{Addresses: addrs})
		all = append(all, grpc.WithResolvers(r), grpc.WithAuthority(addrs[0].Addr))
		dialTarget = r.Scheme() + ":///brokers"
	}
	conn, err := grpc.NewClient(dialTarget, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to broker %s: %w", target, err)
	}
	return &Client{BrokerServiceClient: v1.NewBrokerServiceClient(conn), conn: conn, target: target}, nil
}

// splitAddresses parses "host:port,host:port".
func splitAddresses(list string) ([]resolver.Address, error) {
	var out []resolver.Address
	var errs []error
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("broker address %q: %w", a, err))
			continue
		}
		out = append(out, resolver.Address{Addr: a})
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("broker address list %q is empty", list))
	}
	return out, errors.Join(errs...)
}
