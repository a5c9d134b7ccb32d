package server

import (
	"context"
	"slices"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/inventory"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// Inventory is what the server needs of an inventory store
// (*inventory.Store).
type Inventory interface {
	// Observe records one report; it must not block.
	Observe(ctx context.Context, caller, endpoint string, env diagnose.ClientEnvironment)
	// List returns the records of endpoint ("" = all).
	List(ctx context.Context, endpoint string) ([]inventory.Record, error)
	// Stats says how complete the store is.
	Stats() inventory.Stats
}

// observe records req's client environment, when it has one, for the
// caller in ctx and the endpoint p was issued for.
func (s *Server) observe(ctx context.Context, endpoint string, env *v1.ClientEnvironment) {
	if s.inv == nil || env == nil {
		return
	}
	var who string
	if id, ok := caller.FromContext(ctx); ok {
		who = id.Qualified()
	}
	s.inv.Observe(ctx, who, endpoint, *environmentFromProto(env))
}

// ListInventory implements the RPC.
func (s *Server) ListInventory(ctx context.Context, req *v1.ListInventoryRequest) (*v1.ListInventoryResponse, error) {
	scope, err := s.svc.InventoryScope(ctx, req.GetEndpoint())
	if err != nil {
		return nil, toStatus(err)
	}
	if s.inv == nil {
		return &v1.ListInventoryResponse{Store: &v1.InventoryStoreStatus{}}, nil
	}
	var recs []inventory.Record
	if req.GetEndpoint() != "" || len(scope) > 0 {
		all, err := s.inv.List(ctx, req.GetEndpoint())
		if err != nil {
			return nil, s.fail(ctx, "ListInventory", err)
		}
		for _, r := range all {
			if _, ok := slices.BinarySearch(scope, r.Endpoint); ok {
				recs = append(recs, r)
			}
		}
	}
	out := &v1.ListInventoryResponse{Store: storeStatusToProto(s.inv.Stats())}
	if n := int(req.GetLimit()); n > 0 && len(recs) > n {
		// Keep the n most recently seen, in the listing's order.
		newest := slices.Clone(recs)
		slices.SortStableFunc(newest, func(a, b inventory.Record) int { return b.LastSeen.Compare(a.LastSeen) })
		keep := make(map[recordKey]bool, n)
		for _, r := range newest[:n] {
			keep[keyOf(r)] = true
		}
		recs = slices.DeleteFunc(recs, func(r inventory.Record) bool { return !keep[keyOf(r)] })
		out.Truncated = true
	}
	for _, r := range recs {
		out.Records = append(out.Records, recordToProto(r))
	}
	return out, nil
}

type recordKey struct{ caller, endpoint, digest string }

func keyOf(r inventory.Record) recordKey { return recordKey{r.Caller, r.Endpoint, r.Digest} }

func recordToProto(r inventory.Record) *v1.InventoryRecord {
	return &v1.InventoryRecord{
		Caller: r.Caller, Endpoint: r.Endpoint, Environment: clientEnvironmentToProto(r.Env),
		FirstSeen: timestamppb.New(r.FirstSeen), LastSeen: timestamppb.New(r.LastSeen), Count: r.Count, Digest: r.Digest,
	}
}

// clientEnvironmentToProto is environmentFromProto's inverse.
func clientEnvironmentToProto(e diagnose.ClientEnvironment) *v1.ClientEnvironment {
	out := &v1.ClientEnvironment{Driver: e.Driver, Env: e.Env, CaBundle: e.CABundle, Runtime: e.Runtime}
	if !e.ClientTime.IsZero() {
		out.ClientTime = timestamppb.New(e.ClientTime)
	}
	for _, p := range e.Packages {
		out.Packages = append(out.Packages, &v1.ClientPackage{Name: p.Name, Version: p.Version, ClientLibrary: p.ClientLibrary,
			CExtension: p.CExtension, PluginDir: p.PluginDir, ClientPlugins: p.ClientPlugins})
	}
	return out
}

func storeStatusToProto(st inventory.Stats) *v1.InventoryStoreStatus {
	return &v1.InventoryStoreStatus{
		Enabled: true, Backend: st.Backend, Records: st.Records, Capacity: st.Capacity, Full: st.Full,
		Dropped: st.Dropped, Evicted: st.Evicted, Expired: st.Expired, Retention: durationpb.New(st.Retention), LastError: st.LastError,
	}
}
