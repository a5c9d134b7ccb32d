package broker

import (
	"context"
	"sync/atomic"

	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/broker/preflight"
)

// inventoryBox holds the Service's inventory (an interface in an
// atomic.Pointer).
type inventoryBox struct{ inv preflight.Inventory }

// inventoryHolder is the Service field SetInventory stores into.
type inventoryHolder = atomic.Pointer[inventoryBox]

// SetInventory gives Preflight the applications seen per endpoint; nil
// turns preflight off (FAILED_PRECONDITION "inventory is off").
func (s *Service) SetInventory(inv preflight.Inventory) {
	if inv == nil {
		s.inventory.Store(nil)
		return
	}
	s.inventory.Store(&inventoryBox{inv: inv})
}

// PreflightRequest asks what the changes would do to endpoint's
// applications.
type PreflightRequest struct {
	// Endpoint is the endpoint name.
	Endpoint string
	// Changes are KIND=VALUE strings (preflight.ParseChange).
	Changes []string
	// CAPEM is the content of the ca=FILE change's file, if any.
	CAPEM []byte
}

// Preflight plays every application the inventory has seen on the
// endpoint against the endpoint as it is and as it would be after the
// changes (preflight.Predict). The caller must be allowed the endpoint, as
// for a validation. Errors: *ArgError for a bad change (wrapping
// preflight.ErrBadChange), *DeniedError, *NotFoundError,
// preflight.ErrNoInventory when the broker keeps none, and the
// inventory's own errors. It emits observe.Preflight (observe.Denied when
// the policy refuses it).
func (s *Service) Preflight(ctx context.Context, req PreflightRequest) (*preflight.Report, error) {
	rep, err := s.preflight(ctx, req)
	if err != nil {
		s.failed(ctx, req.Endpoint, err, func(string) observe.Event {
			return observe.Preflight{Endpoint: req.Endpoint, Changes: req.Changes, Err: err}
		})
		return nil, err
	}
	e := observe.Preflight{Endpoint: rep.Endpoint, Status: string(rep.Status), AnyBreaks: rep.AnyBreaks}
	for _, c := range rep.Changes {
		e.Changes = append(e.Changes, c.String())
	}
	for _, g := range rep.Groups {
		e.Apps += len(g.Apps)
	}
	s.emit(ctx, e)
	return rep, nil
}

func (s *Service) preflight(ctx context.Context, req PreflightRequest) (*preflight.Report, error) {
	ep, err := s.endpointFor(ctx, "endpoint", req.Endpoint)
	if err != nil {
		return nil, err
	}
	changes, err := preflight.ParseChanges(req.Changes)
	if err != nil {
		return nil, &ArgError{Field: "changes", Problem: err.Error(), Err: err}
	}
	for i, c := range changes {
		if c.Kind == preflight.KindCA {
			if len(req.CAPEM) == 0 {
				return nil, &ArgError{Field: "changes", Problem: "ca=" + c.CAFile + " needs the file's certificates in ca_pem", Err: preflight.ErrBadChange}
			}
			changes[i].CAPEM = req.CAPEM
		}
	}
	box := s.inventory.Load()
	if box == nil {
		return nil, preflight.ErrNoInventory
	}
	// The simulation's logins count against validation.max_concurrent,
	// as the doctor's predictions do.
	release, err := s.validator.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	pe := preflight.Endpoint{Name: ep.Name, Hints: hintsInput(ep), Diagnose: diagnosisInput(ep, nil), CAPEM: ep.TLS.CAPEM}
	rep, err := preflight.Predict(ctx, pe, box.inv, changes)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "preflight", "endpoint", ep.Name, "status", string(rep.Status), "any_breaks", rep.AnyBreaks, "groups", len(rep.Groups))
	return rep, nil
}
