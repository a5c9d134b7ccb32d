package credential

import (
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
)

func TestIAMOptionsFromConfig(t *testing.T) {
	for _, tt := range []struct {
		refresh time.Duration
		want    time.Duration
	}{{0, DefaultRefreshAfter}, {time.Second, time.Second}, {14 * time.Minute, 14 * time.Minute}} {
		cfg := &config.Config{IAM: config.IAMSettings{RefreshAfter: tt.refresh}}
		i := NewIAM(nil, IAMOptionsFromConfig(cfg)...)
		if i.refreshAfter != tt.want {
			t.Errorf("refresh_after %v: issuer uses %v, want %v", tt.refresh, i.refreshAfter, tt.want)
		}
	}
}
