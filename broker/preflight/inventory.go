package preflight

import (
	"context"
	"fmt"

	"github.com/connbroker/connbroker/broker/inventory"
)

// FromInventory adapts the broker's inventory store (broker/inventory,
// SQLite or MySQL) to Inventory. complete is the store's Stats().Complete():
// a full store, a dropped report or an evicted record makes every answer
// "inventory incomplete", never an all-clear.
func FromInventory(r inventory.Reader) Inventory { return storeInventory{r: r} }

type storeInventory struct{ r inventory.Reader }

// Apps lists the records of endpoint as apps.
func (s storeInventory) Apps(ctx context.Context, endpoint string) ([]App, bool, error) {
	recs, err := s.r.List(ctx, endpoint)
	if err != nil {
		return nil, false, fmt.Errorf("list the inventory: %w", err)
	}
	apps := make([]App, 0, len(recs))
	for _, r := range recs {
		apps = append(apps, App{Caller: r.Caller, Env: r.Env, LastSeen: r.LastSeen, Count: r.Count})
	}
	return apps, s.r.Stats().Complete(), nil
}
