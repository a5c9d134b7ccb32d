package config

import (
	"slices"
	"testing"
	"time"
)

func TestIAMRefreshAfter(t *testing.T) {
	const eps = "endpoints:\n  a:\n    host: h\n    user: u\n    auth: password\n    password: {env: P}\n"
	tests := []struct {
		iam     string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"iam: {refresh_after: 1s}\n", time.Second, false},
		{"iam: {refresh_after: 14m}\n", 14 * time.Minute, false},
		{"iam: {refresh_after: 500ms}\n", 0, true},
		{"iam: {refresh_after: 15m}\n", 0, true},
		{"iam: {refresh_after: -1s}\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.iam, func(t *testing.T) {
			c, err := Parse("x", []byte(tt.iam+eps))
			if tt.wantErr {
				if err == nil {
					t.Fatal("Parse succeeded, want error")
				}
				if got := problemPaths(t, err); !slices.Contains(got, "iam.refresh_after") {
					t.Errorf("paths %v lack iam.refresh_after: %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.IAM.RefreshAfter != tt.want {
				t.Errorf("refresh_after = %v, want %v", c.IAM.RefreshAfter, tt.want)
			}
		})
	}
}
