package server

import (
	"sync"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// protoCache keeps the converted DriverHints and Resolution of each shared
// domain view (keyed by the *hints.Hints the broker hands out for an
// endpoint and driver), so a cached-token GetConnectionParams does not
// rebuild the typed hint options per call. The cached messages are shared by
// responses and only read (concurrent Marshal of one message is safe). The
// cache belongs to one config and is dropped when the config changes.
type protoCache struct {
	cfg *config.Config
	m   sync.Map // *hints.Hints -> *protoView
}

type protoView struct {
	hints *v1.DriverHints
	res   *v1.Resolution
}

// cachedParamsToProto is paramsToProto with the hints and resolution taken
// from the cache when p's hints are the broker's shared view.
func (s *Server) cachedParamsToProto(p *broker.Params) (*v1.ConnectionParams, error) {
	if p.Hints == nil || p.Credential.Stale {
		return paramsToProto(p)
	}
	cfg := s.svc.Config()
	pc := s.pcache.Load()
	if pc == nil || pc.cfg != cfg {
		pc = &protoCache{cfg: cfg}
		s.pcache.Store(pc)
	}
	if v, ok := pc.m.Load(p.Hints); ok {
		pv := v.(*protoView)
		return baseParamsToProto(p, pv.res, pv.hints), nil
	}
	out, err := paramsToProto(p)
	if err != nil {
		return nil, err
	}
	pc.m.LoadOrStore(p.Hints, &protoView{hints: out.Hints, res: out.Resolution})
	return out, nil
}

// baseParamsToProto builds the per-call part of the response around shared
// hints and resolution messages.
func baseParamsToProto(p *broker.Params, res *v1.Resolution, h *v1.DriverHints) *v1.ConnectionParams {
	return &v1.ConnectionParams{
		Endpoint:   p.Endpoint,
		Host:       p.Host,
		Port:       uint32(p.Port),
		User:       p.User,
		Database:   p.Database,
		Credential: credentialToProto(p.Credential),
		Tls: &v1.TLSSettings{
			Mode:       tlsModeToProto(p.TLS.Mode),
			CaPem:      string(p.TLS.CAPEM),
			ServerName: p.TLS.ServerName,
		},
		Resolution: res,
		Hints:      h,
	}
}
