package timesync

import (
	"fmt"
	"math"
	"time"
)

// resetAfter is the number of consecutive inconsistent samples after which
// Filter.Add gives up on its kept samples and starts over from the last one.
const resetAfter = 3

// Filter keeps the last samples of exchanges with one reference and
// intersects their bounds. It is not safe for concurrent use: the caller
// locks.
type Filter struct {
	window   int     // samples kept, >= 1
	maxDrift float64 // relative rate bound, >= 0
	samples  []kept  // in the order added
	rejects  int     // consecutive inconsistent samples
}

// kept is a sample in the filter with the widening applied to it since.
type kept struct {
	s     Sample
	widen time.Duration
}

// NewFilter returns an empty filter that keeps up to window samples and
// assumes the two clocks' rates differ by at most maxDrift (relative, e.g.
// 2e-3 = 2000 ppm). It panics if window < 1 or maxDrift is negative or NaN:
// those are programming errors, not runtime conditions.
func NewFilter(window int, maxDrift float64) *Filter {
	if window < 1 {
		panic(fmt.Sprintf("timesync: NewFilter: window %d < 1", window))
	}
	if !(maxDrift >= 0) {
		panic(fmt.Sprintf("timesync: NewFilter: maxDrift %v is not >= 0", maxDrift))
	}
	return &Filter{window: window, maxDrift: maxDrift, samples: make([]kept, 0, window+1)}
}

// Add validates s and keeps it, dropping the sample with the earliest T4
// when more than window are kept. It returns an error wrapping ErrBadSample
// for an invalid sample (which is not counted below).
//
// If the filter is not empty and s's bound at its T4 does not meet the
// filter's bound at that T4, s contradicts the drift bound (or a clock was
// stepped, or the reference changed): Add rejects it with an error wrapping
// ErrInconsistent. The third such sample in a row wins: Add resets the
// filter, keeps that sample, and returns nil, so a real step is followed
// after three exchanges. A kept sample ends the run of rejections.
func (f *Filter) Add(s Sample) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if len(f.samples) > 0 {
		own := s.BoundAt(s.T4, f.maxDrift)
		b, ok := f.Bound(s.T4)
		if !ok || !overlap(own, b) {
			f.rejects++
			if f.rejects < resetAfter {
				return fmt.Errorf("%w: offset %v ± %v outside the filter's %v ± %v (%d in a row)",
					ErrInconsistent, own.Offset, own.Uncertainty, b.Offset, b.Uncertainty, f.rejects)
			}
			f.Reset()
		}
	}
	f.rejects = 0
	f.samples = append(f.samples, kept{s: s})
	if len(f.samples) > f.window {
		f.evictOldest()
	}
	return nil
}

// evictOldest drops the sample with the earliest T4 (of equal ones, the
// first added).
func (f *Filter) evictOldest() {
	oldest := 0
	for i, k := range f.samples {
		if k.s.T4.Before(f.samples[oldest].s.T4) {
			oldest = i
		}
	}
	f.samples = append(f.samples[:oldest], f.samples[oldest+1:]...)
}

// Bound returns the intersection of every kept sample's bound at local time
// at, widened as Widen asked. It returns false when the filter is empty, or
// when the kept samples' bounds do not meet at at, which only happens if the
// drift bound was broken.
func (f *Filter) Bound(at time.Time) (Bound, bool) {
	if len(f.samples) == 0 {
		return Bound{}, false
	}
	lo, hi := time.Duration(math.MinInt64), time.Duration(math.MaxInt64)
	for _, k := range f.samples {
		b := k.s.BoundAt(at, f.maxDrift)
		b.Uncertainty = satAdd(b.Uncertainty, k.widen)
		lo, hi = max(lo, b.lo()), min(hi, b.hi())
	}
	if lo > hi {
		return Bound{}, false
	}
	mid := halfSum(lo, hi)
	return Bound{Offset: mid, Uncertainty: max(satSub(hi, mid), satSub(mid, lo))}, true
}

// Widen adds d to every kept sample's uncertainty. Call it when the
// reference changes and the new reference's time may differ from the old
// one's by up to d. A d <= 0 does nothing: a bound is never narrowed.
func (f *Filter) Widen(d time.Duration) {
	if d <= 0 {
		return
	}
	for i := range f.samples {
		f.samples[i].widen = satAdd(f.samples[i].widen, d)
	}
}

// Shift moves every kept sample's local timestamps (T1 and T4) by d: use
// it when the local clock was stepped by d, so the samples keep matching
// the clock's new readings.
func (f *Filter) Shift(d time.Duration) {
	for i := range f.samples {
		f.samples[i].s.T1 = f.samples[i].s.T1.Add(d)
		f.samples[i].s.T4 = f.samples[i].s.T4.Add(d)
	}
}

// Reset drops every kept sample and the count of rejections.
func (f *Filter) Reset() {
	clear(f.samples)
	f.samples = f.samples[:0]
	f.rejects = 0
}

// Len returns the number of kept samples.
func (f *Filter) Len() int { return len(f.samples) }

// BestRTT returns the lowest RTT among kept samples, or 0 when the filter is
// empty.
func (f *Filter) BestRTT() time.Duration {
	if len(f.samples) == 0 {
		return 0
	}
	best := time.Duration(math.MaxInt64)
	for _, k := range f.samples {
		best = min(best, k.s.RTT())
	}
	return best
}

// overlap reports whether two bounds, taken at the same local time, meet.
func overlap(a, b Bound) bool {
	return max(a.lo(), b.lo()) <= min(a.hi(), b.hi())
}
