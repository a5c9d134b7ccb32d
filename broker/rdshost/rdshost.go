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

import "strings"

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

// Parse classifies host. ok is false for a name that is not an RDS endpoint
// (including CNAMEs pointing at one: an IAM token must be signed for the
// real RDS name, never for a CNAME).
//
// It matches, label by label, what these patterns say (most specific
// first; REGION is [a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+, NAME
// [a-z0-9-]+, XXXX [a-z0-9]+), on the trimmed, lower-cased host:
//
//	NAME.endpoint.proxy-XXXX.REGION.rds.amazonaws.com(.cn)?.?
//	NAME.proxy-XXXX.REGION...
//	NAME.cluster-ro-XXXX.REGION...
//	NAME.cluster-custom-XXXX.REGION...
//	NAME.cluster-XXXX.REGION...
//	NAME.XXXX.REGION...
//
// It is written out rather than run as regular expressions because every
// endpoint of a large config is parsed at start and at each reload (its
// region default, whether the AWS API applies): the six expressions took
// ~3 µs a host, this ~0.2 µs. rdshost_test.go checks it against the
// expressions (TestParseAgreesWithPatterns, FuzzParse).
func Parse(host string) (info Info, ok bool) {
	h := strings.ToLower(strings.TrimSpace(host))
	h = strings.TrimSuffix(h, ".")
	part := "aws"
	switch {
	case strings.HasSuffix(h, ".rds.amazonaws.com.cn"):
		h, part = strings.TrimSuffix(h, ".rds.amazonaws.com.cn"), "aws-cn"
	case strings.HasSuffix(h, ".rds.amazonaws.com"):
		h = strings.TrimSuffix(h, ".rds.amazonaws.com")
	default:
		return Info{}, false
	}
	dot := strings.LastIndexByte(h, '.')
	if dot < 0 || !isRegion(h[dot+1:]) {
		return Info{}, false
	}
	region, h := h[dot+1:], h[:dot]
	if part == "aws" && strings.HasPrefix(region, "us-gov-") {
		part = "aws-us-gov"
	}
	name, rest, found := strings.Cut(h, ".")
	if !found || !isName(name) {
		return Info{}, false
	}
	var kind Kind
	switch {
	case strings.HasPrefix(rest, "endpoint.proxy-") && isID(rest[len("endpoint.proxy-"):]):
		kind = KindProxyEndpoint
	case strings.HasPrefix(rest, "proxy-") && isID(rest[len("proxy-"):]):
		kind = KindProxy
	case strings.HasPrefix(rest, "cluster-ro-") && isID(rest[len("cluster-ro-"):]):
		kind = KindClusterReader
	case strings.HasPrefix(rest, "cluster-custom-") && isID(rest[len("cluster-custom-"):]):
		kind = KindClusterCustom
	case strings.HasPrefix(rest, "cluster-") && isID(rest[len("cluster-"):]):
		kind = KindCluster
	case isID(rest):
		kind = KindInstance
	default:
		return Info{}, false
	}
	return Info{Kind: kind, Name: name, Region: region, Partition: part}, true
}

// isRegion reports whether s is [a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+.
func isRegion(s string) bool {
	if len(s) < 2 || !isLower(s[0]) || !isLower(s[1]) {
		return false
	}
	s = s[2:]
	if regionTail(s) {
		return true
	}
	if strings.HasPrefix(s, "-gov") && regionTail(s[4:]) {
		return true
	}
	if strings.HasPrefix(s, "-iso") {
		s = s[4:]
		return regionTail(s) || (s != "" && isLower(s[0]) && regionTail(s[1:]))
	}
	return false
}

// regionTail reports whether s is -[a-z]+-[0-9]+.
func regionTail(s string) bool {
	if len(s) < 4 || s[0] != '-' {
		return false
	}
	i := 1
	for i < len(s) && isLower(s[i]) {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != '-' {
		return false
	}
	digits := s[i+1:]
	if digits == "" {
		return false
	}
	for j := range len(digits) {
		if digits[j] < '0' || digits[j] > '9' {
			return false
		}
	}
	return true
}

// isName reports whether s is [a-z0-9-]+.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// isID reports whether s is [a-z0-9]+.
func isID(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isLower(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
