package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/connbroker/connbroker/broker/inventory"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

func clientEnv(pymysql string) *v1.ClientEnvironment {
	return &v1.ClientEnvironment{
		Driver: "pymysql", Runtime: "CPython 3.11.2",
		Packages: []*v1.ClientPackage{{Name: "PyMySQL", Version: pymysql}},
		Env:      map[string]string{"SSL_CERT_FILE": "/etc/ssl/cert.pem", "DB_PASSWORD": "do-not-store-me"},
	}
}

// TestInventoryOverMTLS: GetConnectionParams records the caller's
// environment (also on the cached fast path, counting each call), and
// ListInventory shows each caller only the endpoints it may get.
func TestInventoryOverMTLS(t *testing.T) {
	store, err := inventory.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "inv.db"), inventory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := startMTLSWith(t, mtlsPolicy, Extras{Inventory: store})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := f.client(t, uriLeaf("spiffe://prod/ns/orders/sa/api"), nil)
	batch := f.client(t, dnsLeaf("batch.jobs.internal"), nil)
	cron := f.client(t, uriLeaf("spiffe://prod/ns/reports/sa/cron"), nil)

	for range 3 { // the 2nd and 3rd are served from the params cache
		if _, err := api.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", ClientEnvironment: clientEnv("1.0.2")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql"}); err != nil {
		t.Fatal(err) // no environment: not recorded
	}
	if _, err := cron.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "reports", Driver: "pymysql", ClientEnvironment: clientEnv("1.2.1")}); err != nil {
		t.Fatal(err)
	}
	// A denied call records nothing.
	if _, err := cron.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", ClientEnvironment: clientEnv("0.9")}); err == nil {
		t.Fatal("cron got orders")
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	type row struct {
		Caller, Endpoint, Version string
		Count                     int64
	}
	list := func(c v1.BrokerServiceClient, endpoint string) ([]row, *v1.ListInventoryResponse) {
		t.Helper()
		resp, err := c.ListInventory(ctx, &v1.ListInventoryRequest{Endpoint: endpoint})
		if err != nil {
			t.Fatalf("ListInventory(%q): %v", endpoint, err)
		}
		var rows []row
		for _, r := range resp.GetRecords() {
			rows = append(rows, row{r.GetCaller(), r.GetEndpoint(), r.GetEnvironment().GetPackages()[0].GetVersion(), r.GetCount()})
			if _, ok := r.GetEnvironment().GetEnv()["DB_PASSWORD"]; ok {
				t.Errorf("record holds DB_PASSWORD: %v", r)
			}
		}
		return rows, resp
	}
	apiRow := row{"uri:spiffe://prod/ns/orders/sa/api", "orders", "1.0.2", 3}
	cronRow := row{"uri:spiffe://prod/ns/reports/sa/cron", "reports", "1.2.1", 1}
	for _, tt := range []struct {
		name     string
		c        v1.BrokerServiceClient
		endpoint string
		want     []row
	}{
		{"batch sees every endpoint", batch, "", []row{apiRow, cronRow}},
		{"api sees only orders", api, "", []row{apiRow}},
		{"cron sees only reports", cron, "", []row{cronRow}},
		{"filter", batch, "reports", []row{cronRow}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, resp := list(tt.c, tt.endpoint)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if st := resp.GetStore(); !st.GetEnabled() || st.GetBackend() != "sqlite" || st.GetRecords() != 2 || st.GetCapacity() != inventory.DefaultMaxRecords || st.GetFull() || st.GetDropped() != 0 {
				t.Errorf("store = %v", st)
			}
		})
	}
	// A filter on an endpoint the caller may not get is refused as
	// GetConnectionParams would be.
	_, err = api.ListInventory(ctx, &v1.ListInventoryRequest{Endpoint: "reports"})
	if code, _ := errInfo(t, err); code != codes.PermissionDenied {
		t.Errorf("api listing reports: %v, want PermissionDenied", err)
	}
	_, err = batch.ListInventory(ctx, &v1.ListInventoryRequest{Endpoint: "nope"})
	if code, _ := errInfo(t, err); code != codes.NotFound {
		t.Errorf("unknown endpoint: %v, want NotFound", err)
	}
	// limit keeps the most recently seen.
	resp, err := batch.ListInventory(ctx, &v1.ListInventoryRequest{Limit: 1})
	if err != nil || len(resp.GetRecords()) != 1 || !resp.GetTruncated() || resp.GetRecords()[0].GetEndpoint() != "reports" {
		t.Errorf("limit 1: %v, %v", resp, err)
	}
}

// TestInventoryOff: without a store ListInventory says so and records
// nothing.
func TestInventoryOff(t *testing.T) {
	f := startMTLS(t, mtlsPolicy)
	resp, err := f.client(t, dnsLeaf("batch.jobs.internal"), nil).ListInventory(context.Background(), &v1.ListInventoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStore().GetEnabled() || len(resp.GetRecords()) != 0 {
		t.Errorf("inventory off: %v", resp)
	}
}
