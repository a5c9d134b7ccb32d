package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestBadInput sends malformed requests over a real socket: each is
// refused with INVALID_ARGUMENT naming the field, and an oversized message
// with RESOURCE_EXHAUSTED, before any credential is issued.
func TestBadInput(t *testing.T) {
	conn, _ := startSocket(t)
	cl := v1.NewBrokerServiceClient(conn)
	ctx := context.Background()
	params := func(endpoint, driver string) func() error {
		return func() error {
			_, err := cl.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: endpoint, Driver: driver})
			return err
		}
	}
	validate := func(req *v1.ValidateConnectionRequest) func() error {
		return func() error { _, err := cl.ValidateConnection(ctx, req); return err }
	}
	watch := func(endpoint string) func() error {
		return func() error {
			s, err := cl.WatchConnectionParams(ctx, &v1.WatchConnectionParamsRequest{Endpoint: endpoint})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}
	}
	many := make([]string, 257)
	for i := range many {
		many[i] = fmt.Sprintf("e%d", i)
	}
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"empty endpoint", params("", ""), codes.InvalidArgument, "endpoint"},
		{"upper-case endpoint", params("ORDERS", ""), codes.InvalidArgument, "endpoint"},
		{"endpoint with a space", params("orders x", ""), codes.InvalidArgument, "endpoint"},
		{"endpoint with a control character", params("orders\x01", ""), codes.InvalidArgument, "endpoint"},
		{"endpoint too long", params(strings.Repeat("a", 64), ""), codes.InvalidArgument, "endpoint"},
		{"unknown driver", params("orders", "odbc"), codes.InvalidArgument, "driver"},
		{"huge driver", params("orders", strings.Repeat("x", 4000)), codes.InvalidArgument, "driver"},
		{"oversized message", params(strings.Repeat("a", MaxRecvMsgSize+1), ""), codes.ResourceExhausted, ""},
		{"negative timeout", validate(&v1.ValidateConnectionRequest{Endpoints: []string{"reports"}, Timeout: durationpb.New(-time.Second)}), codes.InvalidArgument, "timeout"},
		{"timeout too long", validate(&v1.ValidateConnectionRequest{Endpoints: []string{"reports"}, Timeout: durationpb.New(2 * time.Minute)}), codes.InvalidArgument, "timeout"},
		{"too many endpoints", validate(&v1.ValidateConnectionRequest{Endpoints: many}), codes.InvalidArgument, "endpoints"},
		{"names and all", validate(&v1.ValidateConnectionRequest{Endpoints: []string{"reports"}, All: true}), codes.InvalidArgument, "endpoints"},
		{"bad name in list", validate(&v1.ValidateConnectionRequest{Endpoints: []string{"reports", "Bad!"}}), codes.InvalidArgument, "endpoints[1]"},
		{"duplicate name", validate(&v1.ValidateConnectionRequest{Endpoints: []string{"reports", "reports"}}), codes.InvalidArgument, "endpoints[1]"},
		{"watch without endpoint", watch(""), codes.InvalidArgument, "endpoint"},
		{"watch bad endpoint", watch("a/b"), codes.InvalidArgument, "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, info := errInfo(t, tt.call())
			if code != tt.code {
				t.Fatalf("code = %v, want %v", code, tt.code)
			}
			if tt.field != "" && info.GetMetadata()["field"] != tt.field {
				t.Errorf("field = %q, want %q", info.GetMetadata()["field"], tt.field)
			}
		})
	}
}
