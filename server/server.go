// Package server adapts the broker domain to the gRPC API: it converts
// messages, maps errors to status codes (status.go) and wires the
// interceptors and the health service (connbrokerd adds reflection only
// with --reflection).
package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
	"github.com/connbroker/connbroker/broker/validate"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// MaxRecvMsgSize bounds request messages; requests are small.
const MaxRecvMsgSize = 64 << 10

// Server implements v1.BrokerServiceServer over a broker.Service.
type Server struct {
	v1.UnimplementedBrokerServiceServer
	svc    *broker.Service
	pcache atomic.Pointer[protoCache]
	// wire holds the marshalled cached responses (codec.go).
	wire wireCache
	// shutdown, when closed, ends WatchConnectionParams streams (watch.go).
	shutdown <-chan struct{}
	// watchPoll is how often watches look for a rotated secret.
	watchPoll time.Duration
	// log receives the full text of errors whose status carries only a
	// safe message (credential sources, AWS).
	log *slog.Logger
	// inv records client environments (inventory.go); nil when off.
	inv Inventory
}

// New returns the API adapter for svc.
func New(svc *broker.Service) *Server {
	return &Server{svc: svc, log: slog.New(slog.DiscardHandler)}
}

// connectionOptions bound each client connection: how many calls it may
// carry at once, and how long it lives before the client must reconnect
// (and present its certificate again: an expired or revoked client
// certificate stops working within max_connection_age + grace).
func connectionOptions(l config.Limits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(l.MaxStreamsPerConnection)),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
		}),
	}
}

// fail logs err in full and returns its status, whose message is safe for
// the caller (credential and AWS errors are reduced to their kind there).
func (s *Server) fail(ctx context.Context, method string, err error) error {
	if errors.Is(err, credential.ErrUnavailable) {
		s.log.WarnContext(ctx, "credential unavailable", "method", method, "err", err)
	}
	return toStatus(err)
}

// streamWorkers is how many goroutines serve incoming streams, kept
// between calls. gRPC otherwise starts one goroutine per call, whose stack
// begins at the process's average (small: most goroutines idle) and is
// copied as it grows through the interceptors, the codec and the domain:
// 9-20% of the daemon's CPU under load, and more for GetConnectionParams
// than for a health check (BENCHMARKS.md). A worker keeps its grown stack.
// A stream that arrives when every worker is busy, and a long one such as
// WatchConnectionParams that holds its worker, gets its own goroutine as
// before, so workers never queue a call.
func streamWorkers() uint32 { return uint32(16 * runtime.GOMAXPROCS(0)) }

// NewGRPCServer returns a grpc.Server with the broker and health services
// (no reflection: the caller registers it when it wants it) and the logging and recovery interceptors. The health
// server is returned so the caller can flip it to NOT_SERVING on shutdown.
func NewGRPCServer(svc *broker.Service, log *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	return NewGRPCServerWith(svc, log, Extras{}, opts...)
}

// Extras are the optional parts of a broker gRPC server.
type Extras struct {
	// Audit is subscribed to the service's event stream: it writes one
	// line per credential issued, validation, probe, denial, rate limit and
	// login-failure report; nil writes none.
	Audit *Auditor
	// Shutdown, when closed, ends every WatchConnectionParams stream with
	// OK, so a graceful stop does not wait for them.
	Shutdown <-chan struct{}
	// WatchPoll is how often a watch re-reads the credential source to
	// notice a rotation; 0 means the configuration's watch.poll.
	WatchPoll time.Duration
	// Inventory records the client_environment of GetConnectionParams and
	// serves ListInventory; nil keeps no inventory.
	Inventory Inventory
}

// NewGRPCServerWith is NewGRPCServer with extras. Every server identifies
// callers by their client certificate (authz.go), bounds credential
// issuance, probes, validations and watch streams per caller
// (ratelimit.go, config limits) and recycles connections after
// limits.max_connection_age.
func NewGRPCServerWith(svc *broker.Service, log *slog.Logger, x Extras, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	limits := newCallerLimiter(svc.Config)
	srv := New(svc)
	if x.Audit != nil {
		svc.Subscribe(x.Audit)
	}
	// The domain emits the events (credential issued, validation, denial
	// ...); origin* add the method and peer to the context they are
	// emitted with, identify* the caller. Refusals made here, before the
	// domain (no identity, rate limits), are reported to the domain's
	// stream. connectionOptions bound streams per connection and
	// connection age.
	opts = append(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.ForceServerCodecV2(newCachedCodec(&srv.wire)),
		grpc.ChainUnaryInterceptor(recoverUnary(log), originUnary(), identifyUnary(svc), logUnary(log), rateLimitUnary(limits, svc)),
		grpc.ChainStreamInterceptor(recoverStream(log), endStreamsOn(x.Shutdown), originStream(), identifyStream(svc), rateLimitStream(limits, svc)),
		grpc.NumStreamWorkers(streamWorkers()),
	}, connectionOptions(svc.Config().Limits)...), opts...)
	gs := grpc.NewServer(opts...)
	if log != nil {
		srv.log = log
	}
	srv.shutdown, srv.watchPoll = x.Shutdown, x.WatchPoll
	srv.inv = x.Inventory
	v1.RegisterBrokerServiceServer(gs, srv)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(v1.BrokerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	return gs, hs
}

// GetConnectionParams implements the RPC.
func (s *Server) GetConnectionParams(ctx context.Context, req *v1.GetConnectionParamsRequest) (*v1.GetConnectionParamsResponse, error) {
	p, err := s.svc.Params(ctx, req.GetEndpoint(), req.GetDriver())
	if err != nil {
		return nil, s.fail(ctx, "GetConnectionParams", err)
	}
	resp, err := s.paramsResponse(p, req)
	if err != nil {
		return nil, toStatus(err)
	}
	// After the response is built (cached or not): the store aggregates
	// repeats in memory and never blocks.
	s.observe(ctx, p.Endpoint, req.GetClientEnvironment())
	return resp, nil
}

// ValidateConnection implements the RPC.
func (s *Server) ValidateConnection(ctx context.Context, req *v1.ValidateConnectionRequest) (*v1.ValidateConnectionResponse, error) {
	res, err := s.svc.Validate(ctx, broker.ValidateRequest{
		Endpoints:      req.GetEndpoints(),
		All:            req.GetAll(),
		Driver:         req.GetDriver(),
		Timeout:        req.GetTimeout().AsDuration(),
		CompareDrivers: req.GetCompareDrivers(),
		Environment:    environmentFromProto(req.GetClientEnvironment()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ValidateConnectionResponse{Ok: true}
	for _, r := range res {
		out.Ok = out.Ok && r.OK
		out.Results = append(out.Results, resultToProto(r, s.svc.Config().Endpoints[r.Endpoint]))
	}
	return out, nil
}

// ListEndpoints implements the RPC.
func (s *Server) ListEndpoints(ctx context.Context, _ *v1.ListEndpointsRequest) (*v1.ListEndpointsResponse, error) {
	out := &v1.ListEndpointsResponse{}
	for _, e := range s.svc.VisibleEndpoints(ctx) {
		out.Endpoints = append(out.Endpoints, &v1.EndpointSummary{
			Name: e.Name, Host: e.Host, Port: uint32(e.Port), User: e.User, Database: e.Database,
			AuthMethod: methodToProto(e.Auth), TlsMode: tlsModeToProto(e.TLS.Mode), Source: e.SourceKind(),
		})
	}
	return out, nil
}

// paramsToProto converts p without the cache, as req asks (see
// paramsResponse); a nil req gets everything.
func paramsToProto(p *broker.Params, req *v1.GetConnectionParamsRequest) (*v1.ConnectionParams, error) {
	dh, err := hintsToProto(p, req.GetOmitParamOptions())
	if err != nil {
		return nil, err
	}
	sum := caSHA256(p.TLS.CAPEM)
	tls := tlsToProto(p, sum, sum != nil && bytes.Equal(req.GetKnownCaSha256(), sum))
	return baseParamsToProto(p, resolutionToProto(p.Resolution), dh, tls), nil
}

// paramOptionNames are the option names (in any driver's hints) that take
// a ConnectionParams field; such an option is left out with
// omit_param_options only when its value is exactly that field's.
var paramOptionNames = struct{ host, port, user, database []string }{
	host: []string{"host"}, port: []string{"port"}, user: []string{"user", "username"}, database: []string{"database", "db", "dbname"},
}

// hintsToProto converts p's hints (nil without). With omit, top-level
// options that only repeat p's host, port, user or database are left out
// and named in param_options.
func hintsToProto(p *broker.Params, omit bool) (*v1.DriverHints, error) {
	h := p.Hints
	if h == nil {
		return nil, nil
	}
	src := h.Options
	var names *v1.ParamOptionNames
	if omit {
		names = &v1.ParamOptionNames{}
		src = make(map[string]any, len(h.Options))
		for k, v := range h.Options {
			switch {
			case names.Host == "" && slices.Contains(paramOptionNames.host, k) && v == any(p.Host):
				names.Host = k
			case names.Port == "" && slices.Contains(paramOptionNames.port, k) && v == any(p.Port):
				names.Port = k
			case names.User == "" && slices.Contains(paramOptionNames.user, k) && v == any(p.User):
				names.User = k
			case names.Database == "" && p.Database != "" && slices.Contains(paramOptionNames.database, k) && v == any(p.Database):
				names.Database = k
			default:
				src[k] = v
			}
		}
		if names.Host == "" && names.Port == "" && names.User == "" && names.Database == "" {
			names = nil
		}
	}
	opts, err := v1.OptionsFromMap(src)
	if err != nil {
		return nil, err
	}
	dh := &v1.DriverHints{
		Driver: h.Driver, Options: opts, SecretOption: h.SecretOption, Dsn: h.DSN,
		Packages: h.Packages, Warnings: h.Warnings, MinVersion: h.MinVersion, ParamOptions: names,
	}
	for _, e := range h.Env {
		dh.Env = append(dh.Env, &v1.EnvVar{Name: e.Name, Value: e.Value, Reason: e.Reason})
	}
	return dh, nil
}

// resolutionToProto converts a resolution; the plugin is the one the
// client ends up using and TLSRequired whether the login must use TLS.
func resolutionToProto(r broker.Resolution) *v1.Resolution {
	return &v1.Resolution{Method: methodToProto(r.Method), Plugin: r.Plugin, TlsRequired: r.TLSRequired, Evidence: evidenceToProto(r.Evidence)}
}

func credentialToProto(c credential.Credential) *v1.Credential {
	// Only the source's kind (file, env, secretsmanager, iam): a path or a
	// secret ARN is not the caller's business.
	out := &v1.Credential{Secret: c.Secret.Reveal(), Source: c.SourceKind()}
	switch c.Kind {
	case credential.KindIAMToken:
		out.Kind = v1.CredentialKind_CREDENTIAL_KIND_IAM_TOKEN
	case credential.KindPassword:
		out.Kind = v1.CredentialKind_CREDENTIAL_KIND_PASSWORD
	}
	if !c.ExpiresAt.IsZero() {
		out.ExpiresAt = timestamppb.New(c.ExpiresAt)
	}
	if !c.RefreshAfter.IsZero() {
		out.RefreshAfter = timestamppb.New(c.RefreshAfter)
	}
	return out
}

func resultToProto(r validate.Result, ep *config.Endpoint) *v1.EndpointValidation {
	out := &v1.EndpointValidation{
		Endpoint: r.Endpoint, Ok: r.OK, ServerVersion: r.ServerVersion,
		CurrentUser: r.CurrentUser, Reason: r.Reason,
	}
	for _, s := range r.Stages {
		out.Stages = append(out.Stages, &v1.Stage{Name: stageNameToProto(s.Name), Ok: s.OK, Duration: durationpb.New(s.Duration.Round(time.Microsecond)), Error: s.Error})
	}
	if r.TLSVersion != "" {
		out.Tls = &v1.TLSInfo{Version: r.TLSVersion, Cipher: r.TLSCipher}
	}
	if e := r.MySQLError; e != nil {
		out.Error = &v1.MySQLError{Number: uint32(e.Code), SqlState: e.SQLState, Message: e.Message}
	}
	switch {
	case r.Method != "": // the method the login used (resolved, for auth: auto)
		// As broker/resolve decides it: IAM and clear-text plugins need TLS.
		tlsRequired := config.ClearText(r.Method, r.Plugin) || (ep != nil && ep.TLS.Mode.Requires())
		out.Resolution = resolutionToProto(broker.Resolution{Method: r.Method, Plugin: r.Plugin, Evidence: r.Evidence, TLSRequired: tlsRequired})
	case ep != nil && ep.Auth != config.AuthAuto: // failed before the login: what the config says
		out.Resolution = resolutionToProto(broker.Resolve(ep))
	}
	out.Transcript, out.Findings, out.Drivers = TranscriptToProto(r.Transcript), FindingsToProto(r.Findings), predictionsToProto(r.Drivers)
	out.Environment = environmentToProto(r.Environment)
	return out
}
