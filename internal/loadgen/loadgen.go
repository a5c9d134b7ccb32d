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
	var acc accumulator
	acc.measure(ctx, o.Duration, o.Concurrency, o.MaxCalls, call)
	return acc.result(), nil
}

// Alternate measures several calls side by side: after a warm-up of each
// (o.Warmup), it runs calls[0], calls[1], ... in turn, rounds times, each
// turn for o.Duration/rounds, and returns one Result per call over all its
// turns (o.MaxCalls bounds each call's total). On a machine shared with
// other work, a burst of that work then falls on every call alike rather
// than on whichever ran during it. around, when not nil, is called before
// each turn with the call's index and returns what to call after it (the
// bench reads CPU time there).
func Alternate(ctx context.Context, o Options, rounds int, around func(i int) (after func()), calls ...func(context.Context) error) ([]Result, error) {
	if o.Concurrency < 1 {
		return nil, errors.New("concurrency must be at least 1")
	}
	if rounds < 1 || o.Duration < time.Duration(rounds) {
		return nil, errors.New("rounds must be at least 1 and duration at least rounds nanoseconds")
	}
	for _, call := range calls {
		if o.Warmup > 0 {
			runWorkers(ctx, time.Now().Add(o.Warmup), o.Concurrency, 0, call, false)
		}
	}
	accs := make([]accumulator, len(calls))
	for range rounds {
		for i, call := range calls {
			var after func()
			if around != nil {
				after = around(i)
			}
			accs[i].measure(ctx, o.Duration/time.Duration(rounds), o.Concurrency, o.MaxCalls/int64(rounds), call)
			if after != nil {
				after()
			}
		}
	}
	out := make([]Result, len(calls))
	for i := range accs {
		out[i] = accs[i].result()
	}
	return out, ctx.Err()
}

// accumulator sums measured turns of one call.
type accumulator struct {
	lat     []time.Duration
	elapsed time.Duration
	errs    int64
	first   error
}

func (a *accumulator) measure(ctx context.Context, d time.Duration, n int, maxCalls int64, call func(context.Context) error) {
	start := time.Now()
	lat, nerr, first := runWorkers(ctx, start.Add(d), n, maxCalls, call, true)
	a.elapsed += time.Since(start)
	a.lat = append(a.lat, lat...)
	a.errs += nerr
	if a.first == nil {
		a.first = first
	}
}

func (a *accumulator) result() Result {
	res := Result{Elapsed: a.elapsed, Errors: a.errs, FirstError: a.first, Calls: int64(len(a.lat))}
	if len(a.lat) > 0 {
		slices.Sort(a.lat)
		res.P50, res.P90, res.P99 = Percentile(a.lat, 50), Percentile(a.lat, 90), Percentile(a.lat, 99)
		res.Max = a.lat[len(a.lat)-1]
	}
	return res
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
