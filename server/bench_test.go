package server

import (
	"context"
	"fmt"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// BenchmarkRPC compares GetConnectionParams (cached IAM token, pymysql
// hints) with a bare gRPC health check over the same loopback socket, at
// several client concurrencies. Compare the ns/op of the two sub-benchmarks
// of one concurrency: the ratio is what BENCHMARKS.md records.
func BenchmarkRPC(b *testing.B) {
	conn, _ := startSocket(b)
	cl := v1.NewBrokerServiceClient(conn)
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	// As the client helpers ask: no option repeating a ConnectionParams field.
	req := &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", OmitParamOptions: true}
	if _, err := cl.GetConnectionParams(ctx, req); err != nil { // warm the token cache
		b.Fatal(err)
	}
	calls := map[string]func() error{
		"health": func() error {
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		"params": func() error {
			_, err := cl.GetConnectionParams(ctx, req)
			return err
		},
	}
	for _, par := range []int{1, 32, 256} {
		for _, name := range []string{"health", "params"} {
			call := calls[name]
			b.Run(fmt.Sprintf("conc=%d/%s", par, name), func(b *testing.B) {
				b.SetParallelism(par)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := call(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
