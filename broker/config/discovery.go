package config

import (
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Discovery creates endpoints from cloud resources. It is reloadable: a
// SIGHUP re-reads it and discovers again at once.
type Discovery struct {
	// AWS discovers RDS instances, Aurora clusters and RDS Proxies that
	// carry a tag; nil turns it off.
	AWS *AWSDiscovery `yaml:"aws"`
}

// AWSDiscovery creates one endpoint per tagged RDS instance, Aurora
// cluster (its writer endpoint) and RDS Proxy (its default endpoint).
//
// The tag named Tag holds the endpoint's name; Tag+":user" its database
// user (required) and Tag+":database" its default schema (optional). The
// endpoint uses IAM where the resource has IAM database authentication on
// (an instance or cluster with IAMDatabaseAuthenticationEnabled, a proxy
// whose Auth allows or requires IAM); otherwise Tag+":secret" names the
// Secrets Manager secret with its password, and a resource with neither
// is reported and skipped. A discovered endpoint never replaces one of the
// configuration file: a clash is reported.
type AWSDiscovery struct {
	// Regions are the AWS regions to look in. Required.
	Regions []string `yaml:"regions"`
	// Tag is the tag key that marks a resource and names its endpoint,
	// e.g. "connbroker". Required.
	Tag string `yaml:"tag"`
	// Interval is how often discovery runs again. Zero means 5m; allowed
	// 10s to 24h.
	Interval time.Duration `yaml:"interval"`
	// TLS is the database TLS every discovered endpoint uses. Unset means
	// verify-identity against the system CAs (RDS CAs must be trusted).
	TLS EndpointTLS `yaml:"tls"`
	// Dial maps a discovered HOST:PORT to the address to connect to
	// instead, e.g. a local tunnel; IAM tokens stay signed for HOST:PORT.
	Dial map[string]string `yaml:"dial"`
}

// DefaultDiscoveryInterval is AWSDiscovery.Interval's default.
const DefaultDiscoveryInterval = 5 * time.Minute

// Every returns the discovery interval, with its default.
func (d *AWSDiscovery) Every() time.Duration {
	if d.Interval == 0 {
		return DefaultDiscoveryInterval
	}
	return d.Interval
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// validate checks the discovery settings.
func (d Discovery) validate() []error {
	a := d.AWS
	if a == nil {
		return nil
	}
	var errs []error
	add := func(path, problem, fix string) {
		errs = append(errs, &FieldError{Path: "discovery.aws" + path, Problem: problem, Fix: fix})
	}
	if len(a.Regions) == 0 {
		add(".regions", "missing", "list the regions to look in, e.g. [us-east-1]")
	}
	for i, r := range a.Regions {
		if !awsRegion.MatchString(r) {
			add(fmt.Sprintf(".regions[%d]", i), fmt.Sprintf("%q is not an AWS region", r), "use a region name such as us-east-1 or eu-west-2")
		}
	}
	if a.Tag == "" {
		add(".tag", "missing", `name the tag key that marks a resource, e.g. "connbroker"`)
	} else if strings.ContainsAny(a.Tag, ":\n") || len(a.Tag) > 100 {
		add(".tag", fmt.Sprintf("%q is not usable as a tag key prefix", a.Tag), "use a key of up to 100 characters without ':'")
	}
	if v := a.Interval; v != 0 && (v < 10*time.Second || v > 24*time.Hour) {
		add(".interval", fmt.Sprintf("%v is out of range", v), "use a duration from 10s to 24h, or leave it unset for 5m")
	}
	if a.TLS.Mode != "" && !knownMode(a.TLS.Mode) {
		add(".tls.mode", fmt.Sprintf("unknown mode %q", a.TLS.Mode), "use verify-identity (recommended), verify-ca, required, preferred or disabled")
	}
	for from, to := range a.Dial {
		if p := dialProblem(to); p != "" {
			add(".dial."+from, p, "give HOST:PORT where the tunnel listens, e.g. 127.0.0.1:13306")
		}
	}
	return errs
}

// WithEndpoints returns a copy of c that also holds the endpoints of
// extra (for example discovered ones), each defaulted and validated like
// a configured one. An extra endpoint whose name the configuration already
// uses, or that does not validate, is left out and reported in problems;
// c itself is not changed.
func (c *Config) WithEndpoints(extra map[string]*Endpoint) (merged *Config, problems []error) {
	nc := *c
	nc.Endpoints = make(EndpointMap, len(c.Endpoints)+len(extra))
	maps.Copy(nc.Endpoints, c.Endpoints)
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := extra[n]
		if _, clash := c.Endpoints[n]; clash {
			problems = append(problems, &FieldError{Path: "endpoints." + n, Problem: fmt.Sprintf("discovered %s has the name of a configured endpoint; the configured one is kept", e.Source),
				Fix: "rename one of them (the resource's tag or the configuration's key)"})
			continue
		}
		cp := *e
		cp.applyDefaults(n)
		if errs := cp.validate("discovered."+n, n); len(errs) > 0 {
			problems = append(problems, errs...)
			continue
		}
		nc.Endpoints[n] = &cp
	}
	return &nc, problems
}

// SourceKind is where e comes from, without detail (a resource ARN names
// the account): "config" or "aws-discovery".
func (e *Endpoint) SourceKind() string {
	if strings.HasPrefix(e.Source, "aws:") {
		return "aws-discovery"
	}
	return "config"
}
