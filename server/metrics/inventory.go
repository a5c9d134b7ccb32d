package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// inventoryMetrics are registered on first use: a broker without an
// inventory exports none of them.
type inventoryMetrics struct {
	once    sync.Once
	dropped *prometheus.CounterVec
}

func (m *Metrics) inventory() *inventoryMetrics {
	im := &m.inv
	im.once.Do(func() {
		im.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "connbroker_inventory_dropped_total",
			Help: "Inventory reports (client environments sent with GetConnectionParams) dropped, by reason: queue-full (more distinct reports than inventory.queue waited for the writer) or write-error. Above 0 the inventory may miss applications.",
		}, []string{"reason"})
		for _, r := range []string{"queue-full", "write-error"} {
			im.dropped.WithLabelValues(r)
		}
		m.Registry.MustRegister(im.dropped)
	})
	return im
}

// InventoryDrop counts one dropped inventory report; give it to
// inventory.Options.OnDrop.
func (m *Metrics) InventoryDrop(reason string) { m.inventory().dropped.WithLabelValues(reason).Inc() }

// InventoryGauges exports the store's size at each scrape:
// connbroker_inventory_records and connbroker_inventory_capacity.
func (m *Metrics) InventoryGauges(records, capacity func() float64) {
	m.inventory()
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "connbroker_inventory_records", Help: "Records in the inventory store (all replicas, for the mysql backend)."}, records),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "connbroker_inventory_capacity", Help: "inventory.max_records: at this many records the least recently seen are evicted."}, capacity),
	)
}
