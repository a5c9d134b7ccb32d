package server

import (
	"context"

	"github.com/connbroker/connbroker/broker/driver"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// ListDrivers implements the RPC: the registry of broker/driver, which is
// the one place drivers and their aliases are spelled. It touches no
// database and no secret.
func (s *Server) ListDrivers(context.Context, *v1.ListDriversRequest) (*v1.ListDriversResponse, error) {
	return driversToProto(driver.All()), nil
}

// driversToProto converts descriptors to the ListDrivers response.
func driversToProto(ds []*driver.Descriptor) *v1.ListDriversResponse {
	out := &v1.ListDriversResponse{}
	for _, d := range ds {
		env := &v1.DriverEnvironment{
			Package: d.Env.Package, Module: d.Env.Module, MinVersion: d.MinVersion(),
			OptionalPackages: d.Env.Optional, EnvVars: d.Env.EnvVars, GuessOrder: uint32(max(d.Env.GuessOrder, 0)),
		}
		for _, r := range d.Env.Versions {
			env.VersionRules = append(env.VersionRules, &v1.DriverVersionRule{Below: r.Below, Problem: r.Problem})
		}
		info := &v1.DriverInfo{Name: d.Name, Aliases: d.Aliases, DisplayName: d.DisplayName, Runtime: d.Runtime, Wraps: d.Wraps, Environment: env}
		for _, v := range d.Variants() {
			info.Variants = append(info.Variants, v.Label)
		}
		out.Drivers = append(out.Drivers, info)
	}
	return out
}
