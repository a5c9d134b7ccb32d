package preflight_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/inventory"
	"github.com/connbroker/connbroker/broker/preflight"
)

// TestFromInventory plays the records of a real SQLite inventory store,
// and a full store is incomplete.
func TestFromInventory(t *testing.T) {
	ctx := context.Background()
	st, err := inventory.OpenSQLite(ctx, filepath.Join(t.TempDir(), "inv.db"), inventory.Options{MaxRecords: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	st.Observe(ctx, "spiffe://a", "orders", envs["pymysql-1.0.2"])
	st.Observe(ctx, "spiffe://a", "orders", envs["pymysql-1.0.2"])
	st.Observe(ctx, "spiffe://b", "orders", envs["go"])
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	change := []preflight.Change{{Kind: preflight.KindPlugin, Plugin: "caching_sha2_password"}}
	rep, err := preflight.Predict(ctx, endpoint(config.TLSDisabled, nil), preflight.FromInventory(st), change)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range rep.Groups {
		for _, a := range g.Apps {
			got[g.Caller] = string(a.After)
			if g.Caller == "spiffe://a" && a.App.Count != 2 {
				t.Errorf("count of spiffe://a = %d, want 2", a.App.Count)
			}
		}
	}
	if rep.Status != preflight.StatusOK || got["spiffe://a"] != "breaks" || got["spiffe://b"] != "works" {
		t.Errorf("status %s, outcomes %v; want ok, a breaks, b works", rep.Status, got)
	}
	// A full store (a third record) is incomplete from then on.
	st.Observe(ctx, "spiffe://c", "orders", envs["mysql2"])
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = preflight.Predict(ctx, endpoint(config.TLSDisabled, nil), preflight.FromInventory(st), change)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != preflight.StatusInventoryIncomplete || rep.AllClear() {
		t.Errorf("full store: status %s, want inventory-incomplete", rep.Status)
	}
}
