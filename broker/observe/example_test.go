package observe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/connbroker/connbroker/broker/observe"
)

// counter is a Recorder: it only counts.
type counter struct{ observe.Nop }

func (counter) Validation(endpoint string, ok bool, finding string) {
	fmt.Printf("login to %s: ok=%t finding=%q\n", endpoint, ok, finding)
}

// A consumer subscribes a Sink; Fanout delivers every event to several
// sinks, and a refusal of a CredentialIssued comes back as an error.
func ExampleFanout() {
	last := map[string]observe.Validation{}
	lastValidation := observe.SinkFunc(func(_ context.Context, e observe.Event) error {
		if v, ok := e.(observe.Validation); ok {
			last[v.Endpoint] = v
		}
		return nil
	})
	full := errors.New("audit trail full")
	audit := observe.SinkFunc(func(_ context.Context, e observe.Event) error {
		if _, ok := e.(observe.CredentialIssued); ok {
			return full
		}
		return nil
	})
	stream := observe.Fanout{lastValidation, observe.FromRecorder(counter{}), audit}
	ctx := observe.WithOrigin(context.Background(), observe.Origin{Method: "/connbroker.v1.BrokerService/ValidateConnection", Peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})

	stream.Observe(ctx, observe.Validation{Endpoint: "orders", Finding: "auth", Duration: 40 * time.Millisecond})
	// A result shared with another request's login is not counted again.
	stream.Observe(ctx, observe.Validation{Endpoint: "orders", Finding: "auth", Shared: true})
	err := stream.Observe(ctx, observe.CredentialIssued{Endpoint: "orders", Kind: "iam-token"})
	fmt.Println("last finding:", last["orders"].Finding)
	fmt.Println("credential refused:", errors.Is(err, full))
	// Output:
	// login to orders: ok=false finding="auth"
	// last finding: auth
	// credential refused: true
}
