package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInventoryMetrics: drops are counted by reason and the store's size is
// read at scrape; a broker without an inventory exports none of them.
func TestInventoryMetrics(t *testing.T) {
	off := New()
	if n, err := testutil.GatherAndCount(off.Registry, "connbroker_inventory_dropped_total", "connbroker_inventory_records"); err != nil || n != 0 {
		t.Fatalf("without an inventory: %d series (%v)", n, err)
	}
	m := New()
	records := 7.0
	m.InventoryGauges(func() float64 { return records }, func() float64 { return 10 })
	m.InventoryDrop("queue-full")
	m.InventoryDrop("queue-full")
	if got := testutil.ToFloat64(m.inventory().dropped.WithLabelValues("queue-full")); got != 2 {
		t.Errorf("queue-full drops = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.inventory().dropped.WithLabelValues("write-error")); got != 0 {
		t.Errorf("write-error drops = %v, want 0", got)
	}
	records = 9
	if n, err := testutil.GatherAndCount(m.Registry, "connbroker_inventory_records", "connbroker_inventory_capacity", "connbroker_inventory_dropped_total"); err != nil || n != 4 {
		t.Errorf("series = %d (%v), want records, capacity and two drop reasons", n, err)
	}
}
