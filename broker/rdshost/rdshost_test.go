package rdshost

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		host string
		want Info
		ok   bool
	}{
		{"mydb.c9akciq32.us-west-2.rds.amazonaws.com", Info{KindInstance, "mydb", "us-west-2", "aws"}, true},
		{"orders.cluster-abc123.eu-central-1.rds.amazonaws.com", Info{KindCluster, "orders", "eu-central-1", "aws"}, true},
		{"orders.cluster-ro-abc123.eu-central-1.rds.amazonaws.com", Info{KindClusterReader, "orders", "eu-central-1", "aws"}, true},
		{"reports.cluster-custom-abc123.ap-southeast-2.rds.amazonaws.com", Info{KindClusterCustom, "reports", "ap-southeast-2", "aws"}, true},
		{"orders.proxy-abc123.us-west-2.rds.amazonaws.com", Info{KindProxy, "orders", "us-west-2", "aws"}, true},
		{"ro.endpoint.proxy-abc123.us-west-2.rds.amazonaws.com", Info{KindProxyEndpoint, "ro", "us-west-2", "aws"}, true},
		{"mydb.abc.cn-north-1.rds.amazonaws.com.cn", Info{KindInstance, "mydb", "cn-north-1", "aws-cn"}, true},
		{"mydb.cluster-abc.cn-northwest-1.rds.amazonaws.com.cn", Info{KindCluster, "mydb", "cn-northwest-1", "aws-cn"}, true},
		{"mydb.abc.us-gov-west-1.rds.amazonaws.com", Info{KindInstance, "mydb", "us-gov-west-1", "aws-us-gov"}, true},
		{"MyDB.ABC.US-EAST-1.rds.amazonaws.com.", Info{KindInstance, "mydb", "us-east-1", "aws"}, true},
		{"db.internal.example.com", Info{}, false},
		{"127.0.0.1", Info{}, false},
		{"rds.amazonaws.com", Info{}, false},
		{"mydb.abc.us-west-2.rds.amazonaws.com.evil.com", Info{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := Parse(tt.host)
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.host, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

// The patterns Parse used to run, most specific first: the reference the
// hand-written matcher must agree with.
var (
	patRegion = `([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)`
	patSuffix = `\.rds\.amazonaws\.com(\.cn)?\.?$`
	patterns  = []struct {
		kind Kind
		re   *regexp.Regexp
	}{
		{KindProxyEndpoint, regexp.MustCompile(`^([a-z0-9-]+)\.endpoint\.proxy-[a-z0-9]+\.` + patRegion + patSuffix)},
		{KindProxy, regexp.MustCompile(`^([a-z0-9-]+)\.proxy-[a-z0-9]+\.` + patRegion + patSuffix)},
		{KindClusterReader, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-ro-[a-z0-9]+\.` + patRegion + patSuffix)},
		{KindClusterCustom, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-custom-[a-z0-9]+\.` + patRegion + patSuffix)},
		{KindCluster, regexp.MustCompile(`^([a-z0-9-]+)\.cluster-[a-z0-9]+\.` + patRegion + patSuffix)},
		{KindInstance, regexp.MustCompile(`^([a-z0-9-]+)\.[a-z0-9]+\.` + patRegion + patSuffix)},
	}
)

// byPatterns is Parse as the regular expressions said it.
func byPatterns(host string) (Info, bool) {
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

// agreeHosts are names near every branch of the patterns: each kind, each
// region shape, the suffixes, and one character off in each part.
var agreeHosts = []string{
	"mydb.c9akciq32.us-west-2.rds.amazonaws.com",
	"orders.cluster-abc123.eu-central-1.rds.amazonaws.com",
	"orders.cluster-ro-abc123.eu-central-1.rds.amazonaws.com",
	"reports.cluster-custom-abc123.ap-southeast-2.rds.amazonaws.com",
	"orders.proxy-abc123.us-west-2.rds.amazonaws.com",
	"ro.endpoint.proxy-abc123.us-west-2.rds.amazonaws.com",
	"endpoint.proxy-abc123.us-west-2.rds.amazonaws.com",
	"a-b-.cluster-x.us-west-2.rds.amazonaws.com",
	"-.x.us-west-2.rds.amazonaws.com",
	".x.us-west-2.rds.amazonaws.com",
	"a..us-west-2.rds.amazonaws.com",
	"a.proxy-.us-west-2.rds.amazonaws.com",
	"a.cluster-.us-west-2.rds.amazonaws.com",
	"a.cluster-ro-.us-west-2.rds.amazonaws.com",
	"a.cluster-ro-x-y.us-west-2.rds.amazonaws.com",
	"a.cluster-custom-.us-west-2.rds.amazonaws.com",
	"a.endpoint.proxy-.us-west-2.rds.amazonaws.com",
	"a.endpoint.x.us-west-2.rds.amazonaws.com",
	"a.b.c.us-west-2.rds.amazonaws.com",
	"a_b.x.us-west-2.rds.amazonaws.com",
	"mydb.abc.cn-north-1.rds.amazonaws.com.cn",
	"mydb.abc.cn-north-1.rds.amazonaws.com.cn.",
	"mydb.abc.cn-north-1.rds.amazonaws.com.cn..",
	"mydb.abc.cn-north-1.rds.amazonaws.com.",
	"mydb.abc.cn-north-1.rds.amazonaws.com..",
	"mydb.abc.us-gov-west-1.rds.amazonaws.com",
	"mydb.abc.us-gov-1.rds.amazonaws.com",
	"mydb.abc.us-gov-west-1.rds.amazonaws.com.cn",
	"mydb.abc.us-iso-east-1.rds.amazonaws.com",
	"mydb.abc.us-isob-east-1.rds.amazonaws.com",
	"mydb.abc.us-isobb-east-1.rds.amazonaws.com",
	"mydb.abc.us-iso-1.rds.amazonaws.com",
	"mydb.abc.us-isob-1.rds.amazonaws.com",
	"mydb.abc.us-east-.rds.amazonaws.com",
	"mydb.abc.us-east.rds.amazonaws.com",
	"mydb.abc.us--1.rds.amazonaws.com",
	"mydb.abc.use-east-1.rds.amazonaws.com",
	"mydb.abc.u-east-1.rds.amazonaws.com",
	"mydb.abc.us-east-1a.rds.amazonaws.com",
	"mydb.abc.us-east-12.rds.amazonaws.com",
	"mydb.abc.us-ea5t-1.rds.amazonaws.com",
	"MyDB.ABC.US-EAST-1.rds.amazonaws.com.",
	"  mydb.abc.us-east-1.rds.amazonaws.com\n",
	"mydb.\u212aabc.us-east-1.rds.amazonaws.com",
	"mydb.abc.us-east-1.rds.amazonaws.com.evil.com",
	"mydb.abc.us-east-1.rds.amazonaws.com.rds.amazonaws.com",
	"mydb.abc.us-east-1.rdsxamazonaws.com",
	"us-east-1.rds.amazonaws.com",
	"abc.us-east-1.rds.amazonaws.com",
	"rds.amazonaws.com",
	".rds.amazonaws.com",
	"db.internal.example.com",
	"127.0.0.1",
	"",
}

// TestParseAgreesWithPatterns: the written-out matcher gives what the
// regular expressions gave, for names near each of their branches.
func TestParseAgreesWithPatterns(t *testing.T) {
	for _, h := range agreeHosts {
		want, wantOK := byPatterns(h)
		got, ok := Parse(h)
		if ok != wantOK || got != want {
			t.Errorf("Parse(%q) = %+v, %v; the patterns say %+v, %v", h, got, ok, want, wantOK)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, h := range agreeHosts {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, host string) {
		info, ok := Parse(host)
		if ok && (info.Region == "" || info.Kind == "" || info.Name == "") {
			t.Fatalf("Parse(%q) = %+v with ok", host, info)
		}
		want, wantOK := byPatterns(host)
		if ok != wantOK || info != want {
			t.Fatalf("Parse(%q) = %+v, %v; the patterns say %+v, %v", host, info, ok, want, wantOK)
		}
	})
}

// BenchmarkParse: one RDS Proxy host name, as each endpoint of the bench's
// fleet config has.
func BenchmarkParse(b *testing.B) {
	b.Run("written-out", func(b *testing.B) {
		for b.Loop() {
			Parse("db01234.proxy-abc123def456.us-west-2.rds.amazonaws.com")
		}
	})
	b.Run("patterns", func(b *testing.B) {
		for b.Loop() {
			byPatterns("db01234.proxy-abc123def456.us-west-2.rds.amazonaws.com")
		}
	})
}
