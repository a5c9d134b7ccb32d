package server

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// BenchmarkRPC compares GetConnectionParams (cached IAM token, pymysql
// hints, view held) with a bare gRPC health check over the same loopback socket, at
// several client concurrencies. Compare the ns/op of the two sub-benchmarks
// of one concurrency: the ratio is what BENCHMARKS.md records.
func BenchmarkRPC(b *testing.B) {
	conn, _ := startSocket(b)
	cl := v1.NewBrokerServiceClient(conn)
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	// As the Go client asks a repeat: no option repeating a ConnectionParams
	// field, and the view it holds (the response is the credential alone).
	req := &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", OmitParamOptions: true}
	first, err := cl.GetConnectionParams(ctx, req) // also warms the token cache
	if err != nil {
		b.Fatal(err)
	}
	req.KnownViewSha256 = first.GetParams().GetViewSha256()
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

// BenchmarkCodec compares, side by side, gRPC's standard proto codec with
// the API's codec (v1.Codec: vtprotobuf's generated code) on the repeat
// GetConnectionParams response: marshal (the server's work when the
// response is not cached) and unmarshal (every client's work), with the
// health response as the baseline.
func BenchmarkCodec(b *testing.B) {
	conn, _ := startSocket(b)
	cl := v1.NewBrokerServiceClient(conn)
	req := &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", OmitParamOptions: true}
	resp, err := cl.GetConnectionParams(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	health := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	codecs := []struct {
		name  string
		codec encoding.CodecV2
	}{{"std", encoding.GetCodecV2(grpcproto.Name)}, {"vt", v1.Codec{}}}
	msgs := []struct {
		name  string
		msg   any
		fresh func() any
	}{
		{"health", health, func() any { return new(healthpb.HealthCheckResponse) }},
		{"params", resp, func() any { return new(v1.GetConnectionParamsResponse) }},
	}
	for _, m := range msgs {
		for _, c := range codecs {
			b.Run(m.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					buf, err := c.codec.Marshal(m.msg)
					if err != nil {
						b.Fatal(err)
					}
					if err := c.codec.Unmarshal(buf, m.fresh()); err != nil {
						b.Fatal(err)
					}
					buf.Free()
				}
			})
		}
	}
}
