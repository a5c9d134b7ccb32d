package config

import (
	"slices"
	"testing"
)

func TestValidateMetrics(t *testing.T) {
	ep := "endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n"
	for _, tt := range []struct {
		name, head, wantPath string
	}{
		{"off by default", "", ""},
		{"loopback", "metrics: {listen: '127.0.0.1:9464'}\n", ""},
		{"all interfaces with insecure", "listen: 0.0.0.0:7700\ninsecure: true\nmetrics: {listen: '0.0.0.0:9464'}\n", ""},
		{"all interfaces without tls", "metrics: {listen: '0.0.0.0:9464'}\n", "metrics.listen"},
		{"not host:port", "metrics: {listen: '9464'}\n", "metrics.listen"},
		{"same as grpc", "listen: 127.0.0.1:7700\nmetrics: {listen: '127.0.0.1:7700'}\n", "metrics.listen"},
		{"unknown key", "metrics: {port: 9464}\n", "<yaml>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("x", []byte(tt.head+ep))
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if (tt.head != "") != c.Metrics.Enabled() {
					t.Errorf("Enabled() = %v for %q", c.Metrics.Enabled(), tt.head)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			if got := problemPaths(t, err); !slices.Contains(got, tt.wantPath) {
				t.Errorf("paths %v lack %q: %v", got, tt.wantPath, err)
			}
		})
	}
}
