package main

import (
	"context"
	"errors"
	"strings"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/preflight"
	"github.com/connbroker/connbroker/server/ui"
)

// errIncomplete: the fleet page cannot show an incomplete inventory's rows
// as an answer.
var errIncomplete = errors.New("the inventory is incomplete (full, or reports were dropped): apps not listed may break too; run connbroker preflight for the rows")

// uiPreflight runs the fleet page's preflight form through the Service:
// the same policy, limits and events as the Preflight RPC.
type uiPreflight struct{ svc *broker.Service }

// Preflight implements ui.Preflighter. No apps seen is no rows; an
// incomplete inventory is an error, so the page never shows an all-clear
// it cannot back.
func (u uiPreflight) Preflight(ctx context.Context, endpoint string, changes []string) ([]ui.PreflightRow, error) {
	rep, err := u.svc.Preflight(ctx, broker.PreflightRequest{Endpoint: endpoint, Changes: changes})
	if err != nil {
		return nil, err
	}
	var rows []ui.PreflightRow
	for _, g := range rep.Groups {
		for _, a := range g.Apps {
			row := ui.PreflightRow{Caller: g.Caller, App: strings.TrimSpace(a.Driver + " " + a.Version + " (" + a.Label + ")"),
				Before: uiOutcome(a.Before), After: uiOutcome(a.After)}
			if a.Finding != nil && a.After != preflight.OutcomeWorks {
				row.Fix = a.Finding.Fix
			}
			rows = append(rows, row)
		}
	}
	if rep.Status == preflight.StatusInventoryIncomplete {
		return rows, errIncomplete
	}
	return rows, nil
}

// uiOutcome is the page's wording of an outcome.
func uiOutcome(o preflight.Outcome) string {
	if o == preflight.OutcomeWarmCacheOnly {
		return "works while the auth cache is warm"
	}
	return string(o)
}
