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
	ic := logUnary(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	type resp struct{ Secret string }
	_, _ = ic(context.Background(), struct{ Password string }{"req-secret"}, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(context.Context, any) (any, error) {
		return resp{"resp-secret"}, nil
	})
	if out := logs.String(); !strings.Contains(out, `"method":"/x/Y"`) || strings.Contains(out, "secret") {
		t.Errorf("log = %s", out)
	}
}

// TestLogUnaryLevels: at the default INFO level a successful call writes
// no line (one per call would flood the log of a busy fleet); at DEBUG it
// does; failures are WARN, internal errors ERROR, whatever the level.
func TestLogUnaryLevels(t *testing.T) {
	call := func(level slog.Level, err error) string {
		logs := &syncBuffer{}
		ic := logUnary(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
		_, _ = ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(context.Context, any) (any, error) {
			return nil, err
		})
		return logs.String()
	}
	if out := call(slog.LevelInfo, nil); out != "" {
		t.Errorf("success at INFO logged %s", out)
	}
	if out := call(slog.LevelDebug, nil); !strings.Contains(out, `"level":"DEBUG"`) || !strings.Contains(out, `"code":"OK"`) {
		t.Errorf("success at DEBUG: %q", out)
	}
	if out := call(slog.LevelInfo, status.Error(codes.PermissionDenied, "no")); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "PermissionDenied") {
		t.Errorf("denial at INFO: %q", out)
	}
	if out := call(slog.LevelWarn, status.Error(codes.Internal, "boom")); !strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("internal error at WARN: %q", out)
	}
}
