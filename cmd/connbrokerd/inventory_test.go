package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/connbroker/connbroker/broker/inventory"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestInventoryServedAndClosed runs the daemon with an SQLite inventory:
// a GetConnectionParams with a client environment is listed, and what is
// pending at shutdown is in the file afterwards; Preflight plays it.
func TestInventoryServedAndClosed(t *testing.T) {
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := lis.Addr().String()
	lis.Close()
	dir := t.TempDir()
	db, pw := filepath.Join(dir, "inventory.db"), filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("inventory-test-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "endpoints:\n  orders:\n    host: 127.0.0.1\n    port: 1\n    user: app\n    auth: password\n    password: {file: "+pw+"}\n    tls: {mode: disabled}\n"+
		"inventory: {path: "+db+", max_records: 50}\n")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan string, 1)
	go func() {
		code, _, e := daemon(ctx, "--dev", "--config", cfg, "--listen", addr)
		if code != 0 {
			e = "exit " + e
		}
		done <- e
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := v1.NewBrokerServiceClient(conn)
	env := &v1.ClientEnvironment{Driver: "go-sql-driver", Runtime: "go1.26", Packages: []*v1.ClientPackage{{Name: "github.com/go-sql-driver/mysql", Version: "v1.10.1"}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.ListInventory(context.Background(), &v1.ListInventoryRequest{})
		if err == nil {
			if st := resp.GetStore(); !st.GetEnabled() || st.GetBackend() != "sqlite" || st.GetCapacity() != 50 {
				t.Fatalf("store = %v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 2 {
		if _, err := c.GetConnectionParams(context.Background(), &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "go-sql-driver", ClientEnvironment: env}); err != nil {
			t.Fatal(err)
		}
	}
	// Preflight plays what the daemon's inventory recorded (new records
	// are written at once; poll until the writer ran).
	for {
		resp, err := c.Preflight(context.Background(), &v1.PreflightRequest{Endpoint: "orders", Changes: []*v1.PreflightChange{{Spec: "require-tls"}}})
		if err != nil {
			t.Fatalf("Preflight: %v", err)
		}
		if resp.GetStatus() == v1.PreflightStatus_PREFLIGHT_STATUS_OK {
			if !resp.GetAnyBreaks() || resp.GetGroups()[0].GetApps()[0].GetDriver() != "go-sql-driver" {
				t.Errorf("preflight = %v, want the go-sql-driver app breaking on require-tls (the endpoint has tls disabled)", resp)
			}
			break
		}
		if resp.GetStatus() != v1.PreflightStatus_PREFLIGHT_STATUS_NO_APPS_SEEN || time.Now().After(deadline) {
			t.Fatalf("preflight status %s, want OK once the record is written", resp.GetStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // the writer may not have run yet: Close writes it
	select {
	case e := <-done:
		if strings.HasPrefix(e, "exit") {
			t.Fatalf("daemon: %s", e)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop")
	}
	s, err := inventory.OpenSQLite(context.Background(), db, inventory.Options{})
	if err != nil {
		t.Fatalf("reopen the daemon's inventory: %v", err)
	}
	defer s.Close()
	recs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Count != 2 || recs[0].Caller != "" || recs[0].Endpoint != "orders" || recs[0].Env.Driver != "go-sql-driver" {
		t.Errorf("records after shutdown: %+v, want one go-sql-driver record counted twice", recs)
	}
}
