package broker

import (
	"context"

	"github.com/connbroker/connbroker/broker/awsapi"
	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/rdshost"
)

// SetAWS turns on the AWS API evidence source (package awsapi) for the
// endpoints it applies to (config.Endpoint.UsesAWSAPI). nil turns it off.
func (s *Service) SetAWS(src *awsapi.Source) { s.aws.Store(src) }

// awsFacts looks ep's address up in the RDS control plane, from the
// source's cache when fresh; nil when the source is off for ep. It runs
// only when an auth: auto resolution is made (cached, resolution.go) and
// when a login is diagnosed, never for a cached GetConnectionParams.
func (s *Service) awsFacts(ctx context.Context, ep *config.Endpoint) *awsapi.Facts {
	src := s.aws.Load()
	if src == nil || !ep.UsesAWSAPI() {
		return nil
	}
	region := ep.Region
	if region == "" {
		if h, ok := rdshost.Parse(ep.Host); ok {
			region = h.Region
		}
	}
	if region == "" {
		region = src.DefaultRegion()
	}
	if region == "" {
		return nil
	}
	f := src.Lookup(ctx, region, ep.Host, ep.Port)
	if f.Err != nil {
		s.log.WarnContext(ctx, "AWS API evidence unavailable", "endpoint", ep.Name, "err", f.Err)
	}
	return &f
}

// awsSimulation asks IAM whether the broker may rds-db:connect as ep.User
// to the resource f describes; nil when there is nothing to simulate.
func (s *Service) awsSimulation(ctx context.Context, ep *config.Endpoint, f *awsapi.Facts) *awsapi.Simulation {
	src := s.aws.Load()
	if src == nil || f == nil || f.ResourceID == "" || ep.Auth != config.AuthIAM {
		return nil
	}
	sim := src.SimulateConnect(ctx, *f, ep.RoleARN, ep.User)
	if sim.Err != nil {
		s.log.WarnContext(ctx, "IAM policy simulation unavailable", "endpoint", ep.Name, "err", sim.Err)
	}
	return &sim
}
