package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/preflight"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// errTwoCAs: a request with two ca= changes carrying different files.
var errTwoCAs = errors.New("at most one ca= change per request")

// Preflight implements the RPC.
func (s *Server) Preflight(ctx context.Context, req *v1.PreflightRequest) (*v1.PreflightResponse, error) {
	in := broker.PreflightRequest{Endpoint: req.GetEndpoint()}
	for _, c := range req.GetChanges() {
		in.Changes = append(in.Changes, c.GetSpec())
		if len(c.GetCaPem()) > 0 {
			if in.CAPEM != nil {
				return nil, toStatus(&broker.ArgError{Field: "changes", Problem: errTwoCAs.Error(), Err: errTwoCAs})
			}
			in.CAPEM = c.GetCaPem()
		}
	}
	rep, err := s.svc.Preflight(ctx, in)
	if err != nil {
		return nil, s.fail(ctx, "Preflight", err)
	}
	return preflightToProto(rep), nil
}

// EnvironmentFromProto converts a client environment report (as the
// helpers send it) to the domain type; nil stays nil.
func EnvironmentFromProto(e *v1.ClientEnvironment) *diagnose.ClientEnvironment {
	return environmentFromProto(e)
}

func preflightToProto(r *preflight.Report) *v1.PreflightResponse {
	out := &v1.PreflightResponse{Endpoint: r.Endpoint, AnyBreaks: r.AnyBreaks, Assumptions: r.Assumptions}
	switch r.Status {
	case preflight.StatusOK:
		out.Status = v1.PreflightStatus_PREFLIGHT_STATUS_OK
	case preflight.StatusNoAppsSeen:
		out.Status = v1.PreflightStatus_PREFLIGHT_STATUS_NO_APPS_SEEN
	case preflight.StatusInventoryIncomplete:
		out.Status = v1.PreflightStatus_PREFLIGHT_STATUS_INVENTORY_INCOMPLETE
	}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, c.String())
	}
	for _, g := range r.Groups {
		pg := &v1.PreflightCallerGroup{Caller: g.Caller}
		for _, a := range g.Apps {
			pa := &v1.PreflightApp{Driver: a.Driver, Version: a.Version, Setup: a.Label, Runtime: a.App.Env.Runtime,
				Before: outcomeToProto(a.Before), After: outcomeToProto(a.After), Count: a.App.Count}
			if !a.App.LastSeen.IsZero() {
				pa.LastSeen = timestamppb.New(a.App.LastSeen)
			}
			if a.Finding != nil {
				pa.Finding = findingToProto(*a.Finding)
			}
			if a.BeforeFinding != nil {
				pa.BeforeFinding = findingToProto(*a.BeforeFinding)
			}
			pg.Apps = append(pg.Apps, pa)
		}
		out.Groups = append(out.Groups, pg)
	}
	return out
}

func outcomeToProto(o preflight.Outcome) v1.PreflightOutcome {
	switch o {
	case preflight.OutcomeWorks:
		return v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS
	case preflight.OutcomeBreaks:
		return v1.PreflightOutcome_PREFLIGHT_OUTCOME_BREAKS
	case preflight.OutcomeWarmCacheOnly:
		return v1.PreflightOutcome_PREFLIGHT_OUTCOME_WORKS_WHILE_CACHE_WARM
	}
	panic(fmt.Sprintf("server: unknown preflight outcome %q", o))
}
