package main

import (
	"slices"
	"sync"
	"time"
)

// recorder collects the latencies of one system's operations in a row,
// and the errors; safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     int
	firstErr error
	elapsed  time.Duration // wall time of the recorded runs, for ops/s
	// ops counts the operations of a workload whose latencies are not
	// one per operation (done): an event's publish, whose deliveries each
	// add a latency. Once done was called, count returns ops.
	ops   int
	apart bool
}

// add records one operation that took d.
func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// since records one operation that began at t0 and ended now.
func (r *recorder) since(t0 time.Time) { r.add(time.Since(t0)) }

// fail counts one failed operation; the first error is kept for the
// report.
func (r *recorder) fail(err error) {
	r.mu.Lock()
	if r.errs == 0 {
		r.firstErr = err
	}
	r.errs++
	r.mu.Unlock()
}

// done counts one operation that succeeded and whose latencies are
// recorded apart, with add.
func (r *recorder) done() {
	r.mu.Lock()
	r.ops++
	r.apart = true
	r.mu.Unlock()
}

// count returns how many operations succeeded: the latencies recorded,
// or, once done was called, the operations it counted.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.apart {
		return r.ops
	}
	return len(r.lat)
}

// samples returns how many latencies were recorded, and whether they
// are apart from the operations (done).
func (r *recorder) samples() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat), r.apart
}

// percentile returns the p-th percentile (0..100) of the recorded
// latencies by the nearest-rank method, or 0 if there are none. With
// fewer than 100 samples the 99th percentile is the maximum.
func (r *recorder) percentile(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return percentile(r.lat, p)
}

// percentile returns the p-th percentile (0..100) of ds by the
// nearest-rank method, or 0 if ds is empty. ds is not changed.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1 // ceil(n·p/100), 1-based
	return s[min(max(rank, 0), len(s)-1)]
}
