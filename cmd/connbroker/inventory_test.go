package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/connbroker/connbroker/broker/inventory"
	"github.com/connbroker/connbroker/internal/testbroker"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

const inventoryCfg = `endpoints:
  orders:
    host: 127.0.0.1
    port: 1
    user: app
    auth: password
    password: {env: CONNBROKER_TEST_INVENTORY_PW}
    tls: {mode: disabled}
  billing:
    host: 127.0.0.1
    port: 1
    user: app
    auth: password
    password: {env: CONNBROKER_TEST_INVENTORY_PW}
    tls: {mode: disabled}
`

// TestInventoryCommand: `connbroker inventory` lists what GetConnectionParams
// recorded, as a table and as JSON, says "no apps seen" for an endpoint
// without records, warns when the store is full, and fails when the broker
// keeps no inventory.
func TestInventoryCommand(t *testing.T) {
	t.Setenv("CONNBROKER_TEST_INVENTORY_PW", "inventory-cli-test-pw")
	store, err := inventory.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "inv.db"), inventory.Options{MaxRecords: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	br, stop, err := testbroker.NewWith(inventoryCfg, testbroker.Options{Inventory: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env := &v1.ClientEnvironment{Driver: "pymysql", Runtime: "CPython 3.11.2", Env: map[string]string{"SSL_CERT_FILE": "/etc/ssl/cert.pem"},
		Packages: []*v1.ClientPackage{{Name: "PyMySQL", Version: "1.0.2"}, {Name: "cryptography", Version: "43.0.0"}}}
	if _, err := br.Client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "orders", Driver: "pymysql", ClientEnvironment: env}); err != nil {
		t.Fatal(err)
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli("--broker="+br.Addr, "inventory")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"ENDPOINT", "LAST SEEN", "orders", "pymysql", "1.0.2", "CPython 3.11.2", "cryptography 43.0.0", "SSL_CERT_FILE=/etc/ssl/cert.pem", "store: sqlite, 1 of 2 records"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr %q for a complete inventory", errOut)
	}
	code, out, _ = cli("--broker="+br.Addr, "inventory", "billing")
	if code != 0 || !strings.Contains(out, "no apps seen on endpoint billing") {
		t.Errorf("billing: exit %d:\n%s", code, out)
	}
	code, out, errOut = cli("--broker="+br.Addr, "inventory", "orders", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var resp v1.ListInventoryResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("not a ListInventoryResponse: %v\n%s", err, out)
	}
	if len(resp.GetRecords()) != 1 || resp.GetRecords()[0].GetEnvironment().GetDriver() != "pymysql" || resp.GetRecords()[0].GetCount() != 1 {
		t.Errorf("json: %v", &resp)
	}
	if code, _, errOut := cli("--broker="+br.Addr, "inventory", "nope"); code != 2 || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown endpoint: exit %d, %s", code, errOut)
	}

	// Full: a warning on stderr.
	env.Packages[0].Version = "1.2.1"
	if _, err := br.Client.GetConnectionParams(ctx, &v1.GetConnectionParamsRequest{Endpoint: "billing", ClientEnvironment: env}); err != nil {
		t.Fatal(err)
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("--broker="+br.Addr, "inventory"); code != 0 || !strings.Contains(errOut, "may be incomplete: the store is full") {
		t.Errorf("full store: exit %d, stderr %q", code, errOut)
	}

	off := testbroker.Start(t, inventoryCfg)
	if code, _, errOut := cli("--broker="+off.Addr, "inventory"); code != 1 || !strings.Contains(errOut, "keeps no inventory") {
		t.Errorf("inventory off: exit %d, stderr %q", code, errOut)
	}
}
