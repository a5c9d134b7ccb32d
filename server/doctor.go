package server

import (
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/connbroker/connbroker/broker/diagnose"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// environmentFromProto converts a request's client environment; nil stays
// nil.
func environmentFromProto(e *v1.ClientEnvironment) *diagnose.ClientEnvironment {
	if e == nil {
		return nil
	}
	out := &diagnose.ClientEnvironment{Driver: e.GetDriver(), Env: e.GetEnv(), CABundle: e.GetCaBundle(), Runtime: e.GetRuntime()}
	if e.GetClientTime() != nil {
		out.ClientTime = e.GetClientTime().AsTime()
	}
	for _, p := range e.GetPackages() {
		out.Packages = append(out.Packages, diagnose.ClientPackage{Name: p.GetName(), Version: p.GetVersion(),
			ClientLibrary: p.GetClientLibrary(), CExtension: p.GetCExtension(), PluginDir: p.GetPluginDir(), ClientPlugins: p.GetClientPlugins()})
	}
	return out
}

// environmentToProto converts an environment report; nil stays nil.
func environmentToProto(r *diagnose.EnvironmentReport) *v1.EnvironmentReport {
	if r == nil {
		return nil
	}
	out := &v1.EnvironmentReport{Driver: r.Driver, ClockOffset: durationpb.New(r.ClockOffset), Findings: FindingsToProto(r.Findings)}
	for _, p := range r.Drivers {
		d := &v1.DriverPrediction{Driver: p.Key, Options: p.Case.Options, Version: p.Version, Works: p.Works,
			Result: handshakeResultToProto(p.Result), AuthPlugin: p.Plugin, Tls: p.TLS}
		if p.Finding != nil {
			d.Finding = findingToProto(*p.Finding)
		}
		out.Drivers = append(out.Drivers, d)
	}
	return out
}
