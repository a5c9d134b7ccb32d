package config

import (
	"strings"
	"testing"
)

func TestDiscoveryValidation(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // FieldError paths and words; empty: valid
	}{
		{"valid, no endpoints needed", "discovery: {aws: {regions: [us-east-1, eu-west-2], tag: connbroker, interval: 10m}}\n", nil},
		{"no regions", "discovery: {aws: {tag: connbroker}}\n", []string{"discovery.aws.regions: missing"}},
		{"bad region", "discovery: {aws: {regions: [useast1], tag: x}}\n", []string{`discovery.aws.regions[0]: "useast1" is not an AWS region`}},
		{"no tag", "discovery: {aws: {regions: [us-east-1]}}\n", []string{"discovery.aws.tag: missing"}},
		{"tag with colon", "discovery: {aws: {regions: [us-east-1], tag: 'a:b'}}\n", []string{"discovery.aws.tag"}},
		{"interval too short", "discovery: {aws: {regions: [us-east-1], tag: x, interval: 1s}}\n", []string{"discovery.aws.interval: 1s is out of range"}},
		{"bad tls mode", "discovery: {aws: {regions: [us-east-1], tag: x, tls: {mode: strict}}}\n", []string{"discovery.aws.tls.mode"}},
		{"bad dial", "discovery: {aws: {regions: [us-east-1], tag: x, dial: {'db:3306': 'nowhere'}}}\n", []string{"discovery.aws.dial.db:3306"}},
		{"unknown key", "discovery: {aws: {regions: [us-east-1], tag: x, tags: y}}\n", []string{`unknown key "tags"`}},
		{"no endpoints, no discovery", "listen: 127.0.0.1:7700\n", []string{"no endpoints are configured"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d.yaml", []byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestWithEndpointsKeepsConfigured(t *testing.T) {
	c, err := Parse("c.yaml", []byte("endpoints:\n  orders: {host: h, user: u, auth: password, password: {env: X}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*Endpoint{
		"orders":  {Host: "other", User: "u", Auth: AuthIAM, Region: "us-east-1", Source: "aws:arn:aws:rds:us-east-1:1:db:orders"},
		"reports": {Host: "reports.abc.us-east-1.rds.amazonaws.com", User: "r", Auth: AuthIAM, Source: "aws:arn:aws:rds:us-east-1:1:db:reports"},
		"broken":  {Host: "b", Auth: AuthIAM, Source: "aws:arn:aws:rds:us-east-1:1:db:broken"},
	}
	m, problems := c.WithEndpoints(found)
	if m.Endpoints["orders"].Host != "h" || m.Endpoints["orders"].SourceKind() != "config" {
		t.Errorf("the configured orders was replaced: %+v", m.Endpoints["orders"])
	}
	r := m.Endpoints["reports"]
	if r == nil || r.Port != DefaultPort || r.TLS.Mode != TLSVerifyIdentity || r.Region != "us-east-1" || r.SourceKind() != "aws-discovery" {
		t.Errorf("reports not added with defaults: %+v", r)
	}
	if _, ok := m.Endpoints["broken"]; ok {
		t.Error("an endpoint that does not validate (no user) was added")
	}
	var all []string
	for _, p := range problems {
		all = append(all, p.Error())
	}
	if got := strings.Join(all, "\n"); !strings.Contains(got, "endpoints.orders: discovered") || !strings.Contains(got, "has the name of a configured endpoint") || !strings.Contains(got, "discovered.broken.user: missing") {
		t.Errorf("problems %v, want the clash and the invalid one", problems)
	}
	if len(c.Endpoints) != 1 {
		t.Errorf("WithEndpoints changed the base config: %d endpoints", len(c.Endpoints))
	}
}
