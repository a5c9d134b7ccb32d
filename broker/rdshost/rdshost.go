// Package rdshost classifies Amazon RDS host names: which kind of endpoint a
// name is (instance, Aurora cluster writer/reader/custom endpoint, RDS Proxy
// or proxy endpoint), in which region and partition.
//
// Formats (Amazon Aurora and RDS Proxy user guides):
//
//	instance        ID.XXXX.REGION.rds.amazonaws.com
//	cluster writer  NAME.cluster-XXXX.REGION.rds.amazonaws.com
//	cluster reader  NAME.cluster-ro-XXXX.REGION.rds.amazonaws.com
//	custom          NAME.cluster-custom-XXXX.REGION.rds.amazonaws.com
//	proxy           NAME.proxy-XXXX.REGION.rds.amazonaws.com
//	proxy endpoint  NAME.endpoint.proxy-XXXX.REGION.rds.amazonaws.com
//
// China regions end in .rds.amazonaws.com.cn; GovCloud regions are
// us-gov-*.
package rdshost

import (
	"regexp"
	"strings"
)

// Kind is the kind of RDS endpoint a host name denotes.
type Kind string

// Endpoint kinds.
const (
	KindInstance      Kind = "rds-instance"
	KindCluster       Kind = "aurora-cluster"
	KindClusterReader Kind = "aurora-cluster-reader"
	KindClusterCustom Kind = "aurora-cluster-custom"
	KindProxy         Kind = "rds-proxy"
	KindProxyEndpoint Kind = "rds-proxy-endpoint"
)

// Info is what a host name says about an endpoint.
type Info struct {
	// Kind is the endpoint kind.
	Kind Kind
	// Name is the instance, cluster, proxy or endpoint name.
	Name string
	// Region is the AWS region, e.g. us-west-2.
	Region string
	// Partition is aws, aws-cn or aws-us-gov.
	Partition string
}

// IsProxy reports whether the host is an RDS Proxy (default or extra endpoint).
func (i Info) IsProxy() bool { return i.Kind == KindProxy || i.Kind == KindProxyEndpoint }

var (
	region = `([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)`
	suffix = `\.rds\.amazonaws\.com(\.cn)?\.?$`
	// Order matters: most specific first.
	patterns = []struct {
		kind Kind
		re   *regexp.Regexp
	}{
		{KindProxyEndpoint, regexp.MustCompile(`^([a-z0-9-]+)\.endpoint\.proxy-[a-z0-9]+\.` + region + suffix)},
		{KindProxy, regexp.MustCompile(`^([a-z0-9-]+)\.proxy-[a-z0-9]+\.` + region + suffix)},
		{KindClusterReader, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-ro-[a-z0-9]+\.` + region + suffix)},
		{KindClusterCustom, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-custom-[a-z0-9]+\.` + region + suffix)},
		{KindCluster, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-[a-z0-9]+\.` + region + suffix)},
		{KindInstance, regexp.MustCompile(`^([a-z0-9-]+)\.[a-z0-9]+\.` + region + suffix)},
	}
)

// Parse classifies host. ok is false for a name that is not an RDS endpoint
// (including CNAMEs pointing at one: an IAM token must be signed for the
// real RDS name, never for a CNAME).
func Parse(host string) (info Info, ok bool) {
	h := strings.ToLower(strings.TrimSpace(host))
	for _, p := range patterns {
		m := p.re.FindStringSubmatch(h)
		if m == nil {
			continue
		}
		part := "aws"
		switch {
		case m[3] != "":
			part = "aws-cn"
		case strings.HasPrefix(m[2], "us-gov-"):
			part = "aws-us-gov"
		}
		return Info{Kind: p.kind, Name: m[1], Region: m[2], Partition: part}, true
	}
	return Info{}, false
}
