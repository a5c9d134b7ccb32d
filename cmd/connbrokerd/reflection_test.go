package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestReflectionOffByDefault: the daemon serves gRPC server reflection only
// with --reflection.
func TestReflectionOffByDefault(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tt := range []struct {
		name string
		args []string
		on   bool
	}{
		{"default", nil, false},
		{"--reflection", []string{"--reflection"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			cfg := writeConfig(t, "listen: "+addr+"\n"+goodConfig)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { daemon(ctx, append([]string{"--dev", "--config", cfg}, tt.args...)...); close(done) }()
			defer func() { cancel(); <-done }()
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			waitFor(t, "SERVING", 15*time.Second, func() bool {
				r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
				return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
			})
			st, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Send reports io.EOF when the server has already ended the
			// stream (Unimplemented); Recv then returns the status.
			if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			resp, err := st.Recv()
			if !tt.on {
				if status.Code(err) != codes.Unimplemented {
					t.Errorf("reflection without --reflection: %v %v, want Unimplemented", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("reflection with --reflection: %v", err)
			}
			var names []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			if !slices.Contains(names, v1.BrokerService_ServiceDesc.ServiceName) {
				t.Errorf("reflection lists %v", names)
			}
		})
	}
}
