package connbroker

import (
	"context"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// reports remembers, per endpoint, the environment this process last
// reported to the broker's inventory, so GetConnectionParams carries
// client_environment with the first successful request per process and
// endpoint, and again only when the environment changes (an environment
// variable set or changed).
var reports envReports

type envReports struct {
	mu   sync.Mutex
	sent map[string]string // endpoint -> key of the environment reported
	key  string            // key of env
	env  *v1.ClientEnvironment
}

// current returns this process's environment for the inventory (no client
// time: the inventory does not keep it) and a key that changes with it.
// The build information is read once; the variables on every call.
func (r *envReports) current() (*v1.ClientEnvironment, string) {
	var key string
	for _, k := range environmentVars {
		v, ok := os.LookupEnv(k)
		if ok {
			key += k + "=" + v + "\x00"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.env == nil || r.key != key {
		env := Environment()
		env.ClientTime = nil
		r.env, r.key = env, key
	}
	return r.env, r.key
}

// reportingClient adds the environment to GetConnectionParams requests as
// reports says, and records what the broker accepted.
type reportingClient struct{ v1.BrokerServiceClient }

// GetConnectionParams implements v1.BrokerServiceClient.
func (c reportingClient) GetConnectionParams(ctx context.Context, req *v1.GetConnectionParamsRequest, opts ...grpc.CallOption) (*v1.GetConnectionParamsResponse, error) {
	env, key := reports.current()
	reports.mu.Lock()
	sent, ok := reports.sent[req.GetEndpoint()]
	due := !ok || sent != key
	reports.mu.Unlock()
	if due && req.GetClientEnvironment() == nil {
		req = proto.CloneOf(req)
		req.ClientEnvironment = env
	}
	resp, err := c.BrokerServiceClient.GetConnectionParams(ctx, req, opts...)
	if err == nil && due {
		reports.mu.Lock()
		if reports.sent == nil {
			reports.sent = map[string]string{}
		}
		reports.sent[req.GetEndpoint()] = key
		reports.mu.Unlock()
	}
	return resp, err
}
