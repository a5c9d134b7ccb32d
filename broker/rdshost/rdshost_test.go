package rdshost

import (
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

func FuzzParse(f *testing.F) {
	f.Add("orders.proxy-abc123.us-west-2.rds.amazonaws.com")
	f.Add("mydb.abc.cn-north-1.rds.amazonaws.com.cn")
	f.Fuzz(func(t *testing.T, host string) {
		info, ok := Parse(host)
		if ok && (info.Region == "" || info.Kind == "" || info.Name == "") {
			t.Fatalf("Parse(%q) = %+v with ok", host, info)
		}
	})
}
