// Package loadgen is a small closed-loop load generator: C workers call a
// function back to back for a bounded time (and at most a bounded number
// of calls), recording every call's latency. It is what `make bench` uses
// to compare GetConnectionParams with a bare gRPC health check at several
// concurrencies (ghz is not in the module proxy's served set here).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options bound one run.
type Options struct {
	// Concurrency is the number of workers calling at once (>= 1).
	Concurrency int
	// Duration bounds the measured run.
	Duration time.Duration
	// Warmup runs before measuring, with the same concurrency; not recorded.
	Warmup time.Duration
	// MaxCalls bounds the measured calls across workers; 0 means no bound.
	MaxCalls int64
}

// Result summarises one run.
type Result struct {
	// Calls is the number of measured calls that succeeded.
	Calls int64
	// Errors is the number of measured calls that failed.
	Errors int64
	// FirstError is the first failure, if any.
	FirstError error
	// Elapsed is the measured wall time.
	Elapsed time.Duration
	// P50, P90 and P99 are latency percentiles of successful calls.
	P50, P90, P99 time.Duration
	// Max is the slowest successful call.
	Max time.Duration
}

// Throughput is successful calls per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%d calls in %s (%.0f/s), p50 %s p90 %s p99 %s max %s, %d errors",
		r.Calls, r.Elapsed.Round(time.Millisecond), r.Throughput(), r.P50, r.P90, r.P99, r.Max, r.Errors)
}

// Run calls call from o.Concurrency goroutines until o.Duration passes,
// o.MaxCalls calls were made or ctx ends.
func Run(ctx context.Context, o Options, call func(context.Context) error) (Result, error) {
	if o.Concurrency < 1 {
		return Result{}, errors.New("concurrency must be at least 1")
	}
	if o.Duration <= 0 {
		return Result{}, errors.New("duration must be positive")
	}
	if o.Warmup > 0 {
		runWorkers(ctx, time.Now().Add(o.Warmup), o.Concurrency, 0, call, false)
	}
	start := time.Now()
	lat, nerr, first := runWorkers(ctx, start.Add(o.Duration), o.Concurrency, o.MaxCalls, call, true)
	res := Result{Elapsed: time.Since(start), Errors: nerr, FirstError: first, Calls: int64(len(lat))}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50, res.P90, res.P99 = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99)
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// runWorkers starts no call after end; calls in flight at end finish and
// count (they get ctx, not a deadline, so none is cut short).
func runWorkers(ctx context.Context, end time.Time, n int, maxCalls int64, call func(context.Context) error, record bool) ([]time.Duration, int64, error) {
	var (
		wg       sync.WaitGroup
		issued   atomic.Int64
		nerr     atomic.Int64
		firstErr atomic.Pointer[error]
		per      = make([][]time.Duration, n)
	)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(end) {
				if maxCalls > 0 && issued.Add(1) > maxCalls {
					break
				}
				t0 := time.Now()
				err := call(ctx)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // cancelled from outside
					}
					nerr.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				if record {
					lat = append(lat, d)
				}
			}
			per[w] = lat
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	var first error
	if p := firstErr.Load(); p != nil {
		first = *p
	}
	return all, nerr.Load(), first
}

// Percentile returns the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
