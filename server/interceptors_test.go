package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRecoverUnary(t *testing.T) {
	logs := &syncBuffer{}
	ic := recoverUnary(slog.New(slog.NewJSONHandler(logs, nil)))
	_, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(context.Context, any) (any, error) {
		panic("boom with secret hunter2")
	})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want a bare Internal", err)
	}
	if !strings.Contains(logs.String(), "panic in handler") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("log = %s", logs.String())
	}
}

func TestLogUnaryNeverLogsMessages(t *testing.T) {
	logs := &syncBuffer{}
	ic := logUnary(slog.New(slog.NewJSONHandler(logs, nil)))
	type resp struct{ Secret string }
	_, _ = ic(context.Background(), struct{ Password string }{"req-secret"}, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(context.Context, any) (any, error) {
		return resp{"resp-secret"}, nil
	})
	if out := logs.String(); !strings.Contains(out, `"method":"/x/Y"`) || strings.Contains(out, "secret") {
		t.Errorf("log = %s", out)
	}
}
