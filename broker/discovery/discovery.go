// Package discovery creates endpoints from tagged AWS resources: RDS
// instances, Aurora clusters (their writer endpoint) and RDS Proxies (their
// default endpoint), as config.AWSDiscovery describes. It only reads
// (rds:DescribeDBInstances, rds:DescribeDBClusters, rds:DescribeDBProxies,
// rds:ListTagsForResource for proxies, whose description has no tags) and
// never runs on a request path: the daemon runs it on an interval and on
// SIGHUP, and merges what it found into the configuration
// (config.Config.WithEndpoints).
package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/connbroker/connbroker/broker/config"
)

// RDS is the part of the RDS API discovery calls.
type RDS interface {
	rds.DescribeDBInstancesAPIClient
	rds.DescribeDBClustersAPIClient
	rds.DescribeDBProxiesAPIClient
	ListTagsForResource(context.Context, *rds.ListTagsForResourceInput, ...func(*rds.Options)) (*rds.ListTagsForResourceOutput, error)
}

// Clients returns the RDS client of a region.
type Clients func(region string) RDS

// Skipped is a tagged resource that did not become an endpoint, and why.
type Skipped struct {
	// ARN is the resource's ARN.
	ARN string
	// Reason says what is missing, in words for the log.
	Reason string
}

// Result is one discovery run.
type Result struct {
	// Endpoints are the discovered endpoints by name (Source set to
	// "aws:" + ARN), not yet defaulted or validated.
	Endpoints map[string]*config.Endpoint
	// Skipped are tagged resources left out.
	Skipped []Skipped
	// Calls is the number of AWS API calls the run made.
	Calls int
}

// Discoverer runs discovery with its clients.
type Discoverer struct {
	clients Clients
	calls   atomic.Int64
}

// New returns a Discoverer.
func New(clients Clients) *Discoverer { return &Discoverer{clients: clients} }

// Calls is the number of AWS API calls made so far.
func (d *Discoverer) Calls() int64 { return d.calls.Load() }

// Run discovers the endpoints d's settings describe, region by region. An
// error (an AWS call failed: throttled, denied, unreachable) means the
// result is incomplete; the caller keeps the previous one.
func (d *Discoverer) Run(ctx context.Context, s *config.AWSDiscovery) (Result, error) {
	res := Result{Endpoints: map[string]*config.Endpoint{}}
	add := func(region, arn, host string, port int32, iam bool, tags map[string]string) {
		if ep, reason := endpointFor(s, region, arn, host, port, iam, tags); reason != "" {
			res.Skipped = append(res.Skipped, Skipped{ARN: arn, Reason: reason})
		} else if prev, dup := res.Endpoints[ep.Name]; dup {
			res.Skipped = append(res.Skipped, Skipped{ARN: arn, Reason: fmt.Sprintf("tag %s=%s is also on %s", s.Tag, ep.Name, strings.TrimPrefix(prev.Source, "aws:"))})
		} else {
			res.Endpoints[ep.Name] = ep
		}
	}
	for _, region := range s.Regions {
		r := d.clients(region)
		count := func() { res.Calls++; d.calls.Add(1) }

		ip := rds.NewDescribeDBInstancesPaginator(r, &rds.DescribeDBInstancesInput{})
		for ip.HasMorePages() {
			count()
			page, err := ip.NextPage(ctx)
			if err != nil {
				return res, fmt.Errorf("discovery in %s: rds:DescribeDBInstances: %w", region, err)
			}
			for _, i := range page.DBInstances {
				tags := tagMap(i.TagList)
				if _, ok := tags[s.Tag]; !ok || i.Endpoint == nil {
					continue
				}
				add(region, aws.ToString(i.DBInstanceArn), aws.ToString(i.Endpoint.Address), aws.ToInt32(i.Endpoint.Port), aws.ToBool(i.IAMDatabaseAuthenticationEnabled), tags)
			}
		}
		cp := rds.NewDescribeDBClustersPaginator(r, &rds.DescribeDBClustersInput{})
		for cp.HasMorePages() {
			count()
			page, err := cp.NextPage(ctx)
			if err != nil {
				return res, fmt.Errorf("discovery in %s: rds:DescribeDBClusters: %w", region, err)
			}
			for _, c := range page.DBClusters {
				tags := tagMap(c.TagList)
				if _, ok := tags[s.Tag]; !ok || c.Endpoint == nil {
					continue
				}
				add(region, aws.ToString(c.DBClusterArn), aws.ToString(c.Endpoint), aws.ToInt32(c.Port), aws.ToBool(c.IAMDatabaseAuthenticationEnabled), tags)
			}
		}
		pp := rds.NewDescribeDBProxiesPaginator(r, &rds.DescribeDBProxiesInput{})
		for pp.HasMorePages() {
			count()
			page, err := pp.NextPage(ctx)
			if err != nil {
				return res, fmt.Errorf("discovery in %s: rds:DescribeDBProxies: %w", region, err)
			}
			for _, p := range page.DBProxies {
				if p.EngineFamily != nil && *p.EngineFamily != string(rdstypes.EngineFamilyMysql) {
					continue
				}
				arn := aws.ToString(p.DBProxyArn)
				count()
				out, err := r.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: aws.String(arn)})
				if err != nil {
					return res, fmt.Errorf("discovery in %s: rds:ListTagsForResource %s: %w", region, arn, err)
				}
				tags := tagMap(out.TagList)
				if _, ok := tags[s.Tag]; !ok {
					continue
				}
				add(region, arn, aws.ToString(p.Endpoint), 3306, proxyIAM(p), tags)
			}
		}
	}
	return res, nil
}

// proxyIAM reports whether a proxy takes IAM tokens: its default scheme is
// IAM_AUTH, or an Auth entry allows or requires IAM.
func proxyIAM(p rdstypes.DBProxy) bool {
	if aws.ToString(p.DefaultAuthScheme) == "IAM_AUTH" {
		return true
	}
	return slices.ContainsFunc(p.Auth, func(a rdstypes.UserAuthConfigInfo) bool {
		return a.IAMAuth == rdstypes.IAMAuthModeRequired || a.IAMAuth == rdstypes.IAMAuthModeEnabled
	})
}

func tagMap(ts []rdstypes.Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// endpointFor builds the endpoint of one tagged resource, or says why it
// cannot.
func endpointFor(s *config.AWSDiscovery, region, arn, host string, port int32, iam bool, tags map[string]string) (*config.Endpoint, string) {
	name := tags[s.Tag]
	user := tags[s.Tag+":user"]
	switch {
	case !config.ValidEndpointName(name):
		return nil, fmt.Sprintf("tag %s=%q is not a valid endpoint name (1-63 characters of a-z, 0-9, '.', '_', '-')", s.Tag, name)
	case host == "":
		return nil, "the resource has no endpoint address yet"
	case user == "":
		return nil, fmt.Sprintf("no %s:user tag names the database user", s.Tag)
	}
	if port == 0 {
		port = config.DefaultPort
	}
	ep := &config.Endpoint{
		Name: name, Host: host, Port: int(port), User: user, Database: tags[s.Tag+":database"],
		Region: region, TLS: s.TLS, AWSAPI: aws.Bool(true), Source: "aws:" + arn,
	}
	ep.Dial = s.Dial[net.JoinHostPort(host, strconv.Itoa(int(port)))]
	switch secret := tags[s.Tag+":secret"]; {
	case iam:
		ep.Auth = config.AuthIAM
	case secret != "":
		ep.Auth = config.AuthPassword
		ep.Password = &config.PasswordSource{SecretsManager: secret}
	default:
		return nil, fmt.Sprintf("IAM database authentication is off and no %s:secret tag names a Secrets Manager secret", s.Tag)
	}
	return ep, ""
}
