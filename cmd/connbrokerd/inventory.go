package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/inventory"
	"github.com/connbroker/connbroker/server/metrics"
)

// inventoryOpenTimeout bounds opening the store (the mysql backend logs
// in and checks its table).
const inventoryOpenTimeout = 30 * time.Second

// openInventory opens the store cfg.Inventory configures: nil when off.
// The caller closes it after the gRPC server stopped.
func openInventory(ctx context.Context, cfg *config.Config, svc *broker.Service, mx *metrics.Metrics, log *slog.Logger) (*inventory.Store, error) {
	c := cfg.Inventory
	if !c.Enabled() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, inventoryOpenTimeout)
	defer cancel()
	opts := inventory.Options{MaxRecords: c.MaxRecords, Retention: c.Retention, Queue: c.Queue, Log: log, OnDrop: mx.InventoryDrop}
	var (
		s   *inventory.Store
		err error
	)
	if c.MySQL != nil {
		conn, cerr := svc.OwnConnector(c.MySQL.Endpoint)
		if cerr != nil {
			return nil, fmt.Errorf("inventory.mysql.endpoint: %w", cerr)
		}
		s, err = inventory.OpenMySQL(ctx, conn, c.MySQL.Table, opts)
	} else {
		s, err = inventory.OpenSQLite(ctx, c.Path, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	mx.InventoryGauges(func() float64 { return float64(s.Stats().Records) }, func() float64 { return float64(s.Stats().Capacity) })
	st := s.Stats()
	log.Info("inventory open", "backend", st.Backend, "records", st.Records, "max_records", st.Capacity, "retention", st.Retention)
	return s, nil
}
