package server

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connbroker/connbroker/broker"
	"github.com/connbroker/connbroker/broker/diagnose"
	"github.com/connbroker/connbroker/broker/handshake"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// ProbeEndpoint implements the RPC.
func (s *Server) ProbeEndpoint(ctx context.Context, req *v1.ProbeEndpointRequest) (*v1.ProbeEndpointResponse, error) {
	res, err := s.svc.Probe(ctx, req.GetEndpoint())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.ProbeEndpointResponse{Probe: ProbeResultToProto(res)}, nil
}

// ProbeResultToProto converts a probe result; the CLI uses it for local
// probes too.
func ProbeResultToProto(r broker.ProbeResult) *v1.ProbeResult {
	out := &v1.ProbeResult{Addr: r.Addr, EndpointKind: endpointKindToProto(r.Host.Kind, r.HostOK), Transcript: TranscriptToProto(r.Transcript), Findings: FindingsToProto(r.Findings)}
	if r.HostOK {
		out.Region, out.Partition = r.Host.Region, partitionToProto(r.Host.Partition)
	}
	if g := r.Transcript.Greeting; g != nil {
		out.ServerVersion, out.AuthPlugin = g.ServerVersion, g.AuthPluginName
		out.Flavor = v1.ServerFlavor_SERVER_FLAVOR_MYSQL
		if g.IsMariaDB() {
			out.Flavor = v1.ServerFlavor_SERVER_FLAVOR_MARIADB
		}
		out.TlsOffered = g.OffersTLS()
		if cs := g.Capabilities.String(); cs != "" {
			out.Capabilities = strings.Split(cs, "|")
		}
	}
	return out
}

// TranscriptToProto converts a transcript; nil gives nil.
func TranscriptToProto(t *handshake.Transcript) *v1.Transcript {
	if t == nil {
		return nil
	}
	out := &v1.Transcript{Addr: t.Addr, User: t.User, Profile: t.Profile, Result: handshakeResultToProto(t.Outcome.Result),
		AuthPlugin: t.Outcome.Plugin, Tls: t.Outcome.TLS}
	for _, e := range t.Events {
		out.Events = append(out.Events, &v1.TranscriptEvent{At: durationpb.New(e.At.Round(time.Microsecond)),
			Direction: directionToProto(e.Dir), Kind: eventKindToProto(e.Kind), Summary: e.Summary, Fields: e.Fields})
	}
	return out
}

// FindingsToProto converts findings.
func FindingsToProto(fs []diagnose.Finding) []*v1.Finding {
	out := make([]*v1.Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, findingToProto(f))
	}
	return out
}

func findingToProto(f diagnose.Finding) *v1.Finding {
	sev := v1.FindingSeverity_FINDING_SEVERITY_ERROR
	switch f.Severity {
	case diagnose.SeverityWarning:
		sev = v1.FindingSeverity_FINDING_SEVERITY_WARNING
	case diagnose.SeverityInfo:
		sev = v1.FindingSeverity_FINDING_SEVERITY_INFO
	}
	return &v1.Finding{Code: f.Code, Severity: sev, Cause: f.Cause, Fix: f.Fix}
}

func predictionsToProto(ps []diagnose.Prediction) []*v1.DriverPrediction {
	out := make([]*v1.DriverPrediction, 0, len(ps))
	for _, p := range ps {
		d := &v1.DriverPrediction{Driver: p.Case.Driver, Options: p.Case.Options, Works: p.Works, Result: handshakeResultToProto(p.Result), AuthPlugin: p.Plugin, Tls: p.TLS}
		if p.Finding != nil {
			d.Finding = findingToProto(*p.Finding)
		}
		out = append(out, d)
	}
	return out
}
