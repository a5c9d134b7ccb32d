package config

import (
	"slices"
	"testing"
)

// The aws: key: valid settings load, each bad one names its path, and
// aws_api defaults to on for RDS host names only.
func TestAWSSettings(t *testing.T) {
	const eps = "endpoints:\n  rds:\n    host: orders.proxy-abc123def456.us-east-1.rds.amazonaws.com\n    user: u\n    auth: iam\n" +
		"  custom:\n    host: db.example.internal\n    user: u\n    auth: password\n    password: {env: P}\n" +
		"  forced:\n    host: db2.example.internal\n    user: u\n    auth: password\n    password: {env: P}\n    aws_api: true\n"
	c, err := Parse("x", []byte("aws: {endpoint_url: 'http://127.0.0.1:5000', timeout: 2s, cache_ttl: 1m}\n"+eps))
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.EndpointURL != "http://127.0.0.1:5000" || c.AWS.Timeout.Seconds() != 2 || c.AWS.CacheTTL.Minutes() != 1 {
		t.Errorf("aws = %+v", c.AWS)
	}
	if !c.Endpoints["rds"].UsesAWSAPI() || c.Endpoints["custom"].UsesAWSAPI() || !c.Endpoints["forced"].UsesAWSAPI() {
		t.Errorf("aws_api defaults: rds %t custom %t forced %t", c.Endpoints["rds"].UsesAWSAPI(), c.Endpoints["custom"].UsesAWSAPI(), c.Endpoints["forced"].UsesAWSAPI())
	}
	for _, tc := range []struct{ yaml, path string }{
		{"aws: {endpoint_url: 'ftp://x'}\n", "aws.endpoint_url"},
		{"aws: {timeout: 10ms}\n", "aws.timeout"},
		{"aws: {cache_ttl: 48h}\n", "aws.cache_ttl"},
	} {
		_, err := Parse("x", []byte(tc.yaml+eps))
		if err == nil {
			t.Errorf("%q: Parse succeeded", tc.yaml)
			continue
		}
		if got := problemPaths(t, err); !slices.Contains(got, tc.path) {
			t.Errorf("%q: paths %v lack %s", tc.yaml, got, tc.path)
		}
	}
}
