package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tt := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p0 clamps", ms(1, 2, 3), 0, time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRunBoundsAndCounts(t *testing.T) {
	var n atomic.Int64
	boom := errors.New("boom")
	res, err := Run(context.Background(), Options{Concurrency: 4, Duration: 5 * time.Second, MaxCalls: 200}, func(context.Context) error {
		if n.Add(1)%10 == 0 {
			return boom
		}
		time.Sleep(100 * time.Microsecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := struct{ Calls, Errors int64 }{res.Calls, res.Errors}
	if diff := cmp.Diff(struct{ Calls, Errors int64 }{180, 20}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if !errors.Is(res.FirstError, boom) || res.Elapsed >= 5*time.Second || res.P50 < 100*time.Microsecond || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("result %+v", res)
	}
	if _, err := Run(context.Background(), Options{Concurrency: 0, Duration: time.Second}, nil); err == nil {
		t.Error("concurrency 0 accepted")
	}
}

// TestAlternate checks that every call gets its share of turns in order,
// that the results count each call's calls over all its turns, and that
// around brackets every turn.
func TestAlternate(t *testing.T) {
	var order []int
	var a, b atomic.Int64
	slow := func(n *atomic.Int64, d time.Duration) func(context.Context) error {
		return func(context.Context) error { n.Add(1); time.Sleep(d); return nil }
	}
	res, err := Alternate(context.Background(), Options{Concurrency: 2, Duration: 300 * time.Millisecond}, 3,
		func(i int) func() { order = append(order, i); return func() { order = append(order, -1) } },
		slow(&a, time.Millisecond), slow(&b, 4*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, -1, 1, -1, 0, -1, 1, -1, 0, -1, 1, -1}, order); diff != "" {
		t.Errorf("turns (-want +got):\n%s", diff)
	}
	if res[0].Calls != a.Load() || res[1].Calls != b.Load() || res[0].Calls < 2*res[1].Calls {
		t.Errorf("calls: %d (of %d) and %d (of %d); the 1 ms call should make about 4x the 4 ms one's", res[0].Calls, a.Load(), res[1].Calls, b.Load())
	}
	for i, r := range res {
		if r.Elapsed < 270*time.Millisecond || r.Elapsed > 600*time.Millisecond || r.P50 <= 0 {
			t.Errorf("call %d: %+v, want about 300 ms over its turns", i, r)
		}
	}
	if _, err := Alternate(context.Background(), Options{Concurrency: 1, Duration: time.Second}, 0, nil); err == nil {
		t.Error("0 rounds accepted")
	}
}
