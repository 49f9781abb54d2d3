// Package stats holds the counters that gossipsync's packages keep for
// monitoring: a latency histogram with fixed buckets that records with
// atomic additions only (no lock, no allocation), and its snapshot. It
// imports nothing from the rest of gossipsync, and nothing of any
// monitoring system: package metrics turns snapshots into Prometheus
// histograms at scrape time.
package stats

import (
	"sync/atomic"
	"time"
)

// bounds are the buckets' upper bounds, in seconds, shared by every
// Histogram: from half a millisecond (an RPC on loopback) to ten seconds
// (an Acquire that waited in a queue). A latency above the last bound
// counts in the overflow bucket only.
var bounds = [...]float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// boundsNanos is bounds in nanoseconds, for Observe's comparisons.
var boundsNanos = func() (b [len(bounds)]int64) {
	for i, s := range bounds {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// Histogram counts durations into the buckets of bounds. The zero value
// is ready to use. Safe for concurrent use: Observe is a few atomic
// additions, Snapshot reads them without stopping writers.
type Histogram struct {
	counts [len(bounds) + 1]atomic.Uint64 // per bucket, not cumulative; the last is the overflow
	sum    atomic.Int64                   // nanoseconds
}

// Observe records one duration; a negative one counts as zero.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(boundsNanos) && int64(d) > boundsNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Since records the time elapsed since start.
func (h *Histogram) Since(start time.Time) { h.Observe(time.Since(start)) }

// Snapshot returns the counts so far.
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Snapshot is a Histogram's counts at one moment. Count is the sum of
// Counts, so the buckets never exceed it, even when observations raced
// with the snapshot (Sum may then lag or lead by those observations).
type Snapshot struct {
	Counts [len(bounds) + 1]uint64 // per bucket of bounds, not cumulative; the last is above every bound
	Count  uint64                  // observations
	Sum    time.Duration           // their total
}

// Add returns the sum of s and o: the histogram of both sets of
// observations.
func (s Snapshot) Add(o Snapshot) Snapshot {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Count += o.Count
	s.Sum += o.Sum
	return s
}

// Cumulative returns, per bound of bounds, how many observations were at
// most that bound: the form Prometheus histograms take.
func (s Snapshot) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += s.Counts[i]
		out[b] = n
	}
	return out
}
