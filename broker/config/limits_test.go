package config

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimitDefaults(t *testing.T) {
	c, err := Parse("x", []byte(secEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	want := CallLimits{
		Probe: DefaultProbeLimit, Validate: DefaultValidateLimit,
		WatchStreamsPerCaller: DefaultWatchStreamsPerCaller, EndpointConcurrent: DefaultEndpointConcurrent,
		MaxStreamsPerConnection: DefaultMaxStreamsPerConnection,
		MaxConnectionAge:        DefaultMaxConnectionAge, MaxConnectionAgeGrace: DefaultMaxConnectionAgeGrace,
	}
	if diff := cmp.Diff(want, c.Limits.CallLimits); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if c.Audit.OnError != AuditAllow {
		t.Errorf("audit.on_error default = %q, want allow", c.Audit.OnError)
	}
}

func TestLimitKeys(t *testing.T) {
	c, err := Parse("x", []byte("limits:\n  issue_rate: 7\n  probe: {rate: 1, burst: 2, concurrent: 3}\n  validate: {rate: 4, burst: 5, concurrent: 6}\n"+
		"  watch_streams_per_caller: 8\n  endpoint_concurrent: 1\n  max_streams_per_connection: 9\n  max_connection_age: 2m\n  max_connection_age_grace: 5s\n"+
		"audit: {output: stdout, on_error: deny}\n"+secEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	if l.IssueRate != 7 || l.Probe != (CallLimit{1, 2, 3}) || l.Validate != (CallLimit{4, 5, 6}) || l.WatchStreamsPerCaller != 8 ||
		l.EndpointConcurrent != 1 || l.MaxStreamsPerConnection != 9 || l.MaxConnectionAge != 2*time.Minute || l.MaxConnectionAgeGrace != 5*time.Second {
		t.Errorf("limits = %+v", l)
	}
	if c.Audit.OnError != AuditDeny {
		t.Errorf("audit.on_error = %q", c.Audit.OnError)
	}
}

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name, head string
		wantPaths  []string
	}{
		{"negative probe rate", "limits: {probe: {rate: -1}}\n", []string{"limits.probe.rate"}},
		{"negative validate burst and concurrency", "limits: {validate: {burst: -1, concurrent: -2}}\n", []string{"limits.validate.burst", "limits.validate.concurrent"}},
		{"negative watch streams", "limits: {watch_streams_per_caller: -1}\n", []string{"limits.watch_streams_per_caller"}},
		{"endpoint concurrency too high", "limits: {endpoint_concurrent: 1000}\n", []string{"limits.endpoint_concurrent"}},
		{"connection age too short", "limits: {max_connection_age: 10ms}\n", []string{"limits.max_connection_age"}},
		{"negative grace", "limits: {max_connection_age_grace: -1s}\n", []string{"limits.max_connection_age_grace"}},
		{"unknown on_error", "audit: {output: stdout, on_error: ignore}\n", []string{"audit.on_error"}},
		{"unknown probe key", "limits: {probe: {rps: 1}}\n", []string{"<yaml>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x", []byte(tt.head+secEndpoint))
			if err == nil {
				t.Fatalf("Parse succeeded, want problems at %v", tt.wantPaths)
			}
			got := slices.DeleteFunc(problemPaths(t, err), func(p string) bool { return p == "endpoints.a.password" })
			if diff := cmp.Diff(tt.wantPaths, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}
