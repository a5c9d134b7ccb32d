package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestUnixSocketPeerCred runs the daemon with a Unix socket listener: the
// caller's uid (SO_PEERCRED) is its identity, checked against the policy;
// with identities in use, unidentified TCP callers are denied.
func TestUnixSocketPeerCred(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "broker.sock")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("unix-socket-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	me := fmt.Sprintf("uid:%d", os.Getuid())
	cfg := writeConfig(t, fmt.Sprintf("listen: %s\nunix: {path: %s}\n", addr, sock)+mineAndTheirs(pw)+
		fmt.Sprintf("policy:\n  - caller: %q\n    endpoints: [mine]\n", me))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() { _, _, e := daemon(ctx, "--config", cfg); done <- e }()
	defer func() {
		cancel()
		<-done
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("socket file left behind: %v", err)
		}
	}()
	uconn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer uconn.Close()
	waitFor(t, "unix socket SERVING", 15*time.Second, func() bool {
		r, err := healthpb.NewHealthClient(uconn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	ucl := v1.NewBrokerServiceClient(uconn)
	p, err := ucl.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "mine"})
	if err != nil || p.GetParams().GetCredential().GetSecret() != "unix-socket-password" {
		t.Fatalf("allowed uid over the socket: %v", err)
	}
	_, err = ucl.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "theirs"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), me) {
		t.Errorf("endpoint not in the uid's rule: %v, want PermissionDenied naming %s", err, me)
	}
	tconn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer tconn.Close()
	_, err = v1.NewBrokerServiceClient(tconn).GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "mine"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("unidentified TCP caller: %v, want PermissionDenied (default deny)", err)
	}
}
