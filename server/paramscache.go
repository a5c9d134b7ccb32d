package server

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"weak"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"google.golang.org/protobuf/proto"
)

// protoCache keeps the converted parts of each shared domain view (keyed by
// the *hints.Hints the broker hands out for an endpoint and driver): the
// DriverHints (with full options and with the ConnectionParams-repeating
// options left out), the Resolution and the two TLSSettings (with the CA
// PEM, and without it for a client that holds it), plus the last response
// built around them with its credential. A repeat GetConnectionParams whose
// credential is unchanged (a cached IAM token, an unrotated password) then
// returns that same response message and does no conversion at all. The
// cached messages are shared by responses and only read (concurrent
// Marshal of one message is safe). The cache belongs to one config and is
// dropped with its responses at the first call after the config changes;
// it names the config by a weak pointer, so it never keeps an old config
// alive.
type protoCache struct {
	cfg weak.Pointer[config.Config]
	m   sync.Map // *hints.Hints -> *protoView
}

type protoView struct {
	res *v1.Resolution
	// hints[0] has every option; hints[1] leaves out those that repeat
	// ConnectionParams fields and names them in param_options.
	hints [2]*v1.DriverHints
	// tls[0] carries ca_pem; tls[1] only its digest.
	tls   [2]*v1.TLSSettings
	caSum []byte
	// addr is the view's endpoint, host, port, user and database, and
	// viewSum the digest of the complete view (viewDigest): a request that
	// names it gets only the credential.
	addr    *v1.ConnectionParams
	viewSum []byte
	// last[omit][caKnown] is the last response built from this view;
	// lastOmitted the last one with the view left out.
	mu          sync.Mutex
	last        [2][2]*lastResponse
	lastOmitted *lastResponse
}

// lastResponse is a response and the credential it carries.
type lastResponse struct {
	cred credential.Credential
	resp *v1.GetConnectionParamsResponse
}

// variant says which of a view's variants a request gets.
type variant struct{ omit, caKnown int }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// caSHA256 is the digest of an endpoint's CA bundle, nil for none.
func caSHA256(pem []byte) []byte {
	if len(pem) == 0 {
		return nil
	}
	s := sha256.Sum256(pem)
	return s[:]
}

// paramsResponse builds the response for p as req asks: the CA PEM left out
// when req.known_ca_sha256 matches it, the ConnectionParams-repeating hint
// options left out with req.omit_param_options. Without hints, or with a
// stale credential (its warning must not reach the shared view), it
// converts afresh.
func (s *Server) paramsResponse(p *broker.Params, req *v1.GetConnectionParamsRequest) (*v1.GetConnectionParamsResponse, error) {
	if p.Hints == nil || p.Credential.Stale {
		pp, err := paramsToProto(p, req)
		if err != nil {
			return nil, err
		}
		return &v1.GetConnectionParamsResponse{Params: pp}, nil
	}
	cfg := s.svc.Config()
	pc := s.pcache.Load()
	if pc == nil || pc.cfg.Value() != cfg {
		pc = &protoCache{cfg: weak.Make(cfg)}
		s.pcache.Store(pc)
		s.wire.m.Clear() // the old config's responses
	}
	var pv *protoView
	if v, ok := pc.m.Load(p.Hints); ok {
		pv = v.(*protoView)
	} else {
		var err error
		if pv, err = newProtoView(p); err != nil {
			return nil, err
		}
		v, _ := pc.m.LoadOrStore(p.Hints, pv)
		pv = v.(*protoView)
	}
	if !sameAddress(pv.addr, p) { // not this view's address: nothing shared
		pp, err := paramsToProto(p, req)
		if err != nil {
			return nil, err
		}
		return &v1.GetConnectionParamsResponse{Params: pp}, nil
	}
	vr := variant{omit: b2i(req.GetOmitParamOptions()), caKnown: b2i(pv.caSum != nil && bytes.Equal(req.GetKnownCaSha256(), pv.caSum))}
	viewKnown := bytes.Equal(req.GetKnownViewSha256(), pv.viewSum)
	slot := func() **lastResponse {
		if viewKnown {
			return &pv.lastOmitted
		}
		return &pv.last[vr.omit][vr.caKnown]
	}
	pv.mu.Lock()
	last := *slot()
	pv.mu.Unlock()
	if last != nil && sameCredential(last.cred, p.Credential) {
		return last.resp, nil
	}
	var cp *v1.ConnectionParams
	if viewKnown {
		cp = &v1.ConnectionParams{Endpoint: p.Endpoint, Credential: credentialToProto(p.Credential), ViewSha256: pv.viewSum, ViewOmitted: true}
	} else {
		cp = baseParamsToProto(p, pv.res, pv.hints[vr.omit], pv.tls[vr.caKnown])
		cp.ViewSha256 = pv.viewSum
	}
	resp := &v1.GetConnectionParamsResponse{Params: cp}
	wire, err := resp.MarshalVT()
	if err != nil {
		return nil, err
	}
	// Under the lock, so each slot has exactly one marshalled entry.
	pv.mu.Lock()
	if old := *slot(); old != nil {
		s.wire.m.Delete(old.resp)
	}
	*slot() = &lastResponse{cred: p.Credential, resp: resp}
	s.wire.m.Store(resp, wire)
	pv.mu.Unlock()
	return resp, nil
}

// sameCredential reports whether a and b would convert to the same
// Credential message.
func sameCredential(a, b credential.Credential) bool {
	return a.Kind == b.Kind && a.Stale == b.Stale && a.Secret.Reveal() == b.Secret.Reveal() &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.RefreshAfter.Equal(b.RefreshAfter) && a.SourceKind() == b.SourceKind()
}

// sameAddress reports whether cp carries p's endpoint, address, user and
// database.
func sameAddress(cp *v1.ConnectionParams, p *broker.Params) bool {
	return cp.GetEndpoint() == p.Endpoint && cp.GetHost() == p.Host && cp.GetPort() == uint32(p.Port) &&
		cp.GetUser() == p.User && cp.GetDatabase() == p.Database
}

func newProtoView(p *broker.Params) (*protoView, error) {
	full, err := hintsToProto(p, false)
	if err != nil {
		return nil, err
	}
	omitted, err := hintsToProto(p, true)
	if err != nil {
		return nil, err
	}
	sum := caSHA256(p.TLS.CAPEM)
	pv := &protoView{
		res:   resolutionToProto(p.Resolution),
		hints: [2]*v1.DriverHints{full, omitted},
		tls:   [2]*v1.TLSSettings{tlsToProto(p, sum, false), tlsToProto(p, sum, true)},
		caSum: sum,
		addr:  &v1.ConnectionParams{Endpoint: p.Endpoint, Host: p.Host, Port: uint32(p.Port), User: p.User, Database: p.Database},
	}
	if pv.viewSum, err = viewDigest(pv); err != nil {
		return nil, err
	}
	return pv, nil
}

// viewDigest is the SHA-256 of the complete view (every ConnectionParams
// field but endpoint and credential, with all hint options and the CA
// PEM) in deterministic wire form: equal views, equal digests, within one
// broker version.
func viewDigest(pv *protoView) ([]byte, error) {
	v := &v1.ConnectionParams{Host: pv.addr.Host, Port: pv.addr.Port, User: pv.addr.User, Database: pv.addr.Database,
		Tls: pv.tls[0], Hints: pv.hints[0], Resolution: pv.res}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("view digest: %w", err)
	}
	s := sha256.Sum256(b)
	return s[:], nil
}

// tlsToProto converts p's TLS settings; with omitPEM the CA bundle is
// represented by its digest only.
func tlsToProto(p *broker.Params, sum []byte, omitPEM bool) *v1.TLSSettings {
	t := &v1.TLSSettings{Mode: tlsModeToProto(p.TLS.Mode), ServerName: p.TLS.ServerName, CaSha256: sum}
	if !omitPEM {
		t.CaPem = string(p.TLS.CAPEM)
	}
	return t
}

// baseParamsToProto builds the per-call part of the response around shared
// hints, resolution and TLS messages.
func baseParamsToProto(p *broker.Params, res *v1.Resolution, h *v1.DriverHints, tls *v1.TLSSettings) *v1.ConnectionParams {
	return &v1.ConnectionParams{
		Endpoint:   p.Endpoint,
		Host:       p.Host,
		Port:       uint32(p.Port),
		User:       p.User,
		Database:   p.Database,
		Credential: credentialToProto(p.Credential),
		Tls:        tls,
		Resolution: res,
		Hints:      h,
	}
}
