package timesync

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// The tests in this file simulate a local clock and a reference clock and
// check property C1 at the level of the math: every Bound the filter returns
// contains the reference's true time, as long as the drift bound holds.
//
// Local time L (ns since epoch) is the simulation's time base. The reference
// reads L + θ(L), where θ is piecewise linear with slopes within ±drift:
// often exactly at the bound, flipping sign, which is the adversarial case.

const (
	boundDrift = 2e-3 // the filter's maxDrift
	horizon    = int64(2 * time.Hour)
	// tolerance covers the rounding of the reference's readings to whole
	// nanoseconds (T2 and T3 are floor(L + θ(L))): the analysis assumes
	// exact readings, and a reading that is late by less than 1 ns can
	// move the estimate and the RTT/2 by up to 1 ns each.
	tolerance = 2.0
)

// segment is a piece of θ: from local time start, θ(L) = theta0 + slope*(L-start).
type segment struct {
	start  int64
	theta0 float64
	slope  float64
}

// world is the offset θ between the reference and the local clock over
// [from, horizon).
type world struct {
	segs []segment
}

func newWorld(rng *rand.Rand, from int64, theta0, drift float64) *world {
	w := &world{}
	l, theta := from, theta0
	for l < horizon {
		var slope float64
		switch rng.IntN(3) {
		case 0:
			slope = drift
		case 1:
			slope = -drift
		default:
			slope = (2*rng.Float64() - 1) * drift
		}
		w.segs = append(w.segs, segment{start: l, theta0: theta, slope: slope})
		length := int64(50*time.Millisecond) + rng.Int64N(int64(5*time.Second))
		theta += slope * float64(length)
		l += length
	}
	return w
}

// theta returns θ(l): the reference's reading minus the local one at l.
func (w *world) theta(l int64) float64 {
	i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].start > l }) - 1
	s := w.segs[max(i, 0)]
	return s.theta0 + s.slope*float64(l-s.start)
}

// ref returns the reference's reading at local time l, in whole nanoseconds.
func (w *world) ref(l int64) time.Time {
	return epoch.Add(time.Duration(l) + time.Duration(math.Floor(w.theta(l))))
}

// delay draws a one-way delay: zero, tiny, typical, or long, so that the
// two directions are often very asymmetric.
func delay(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return rng.Int64N(int64(100 * time.Microsecond))
	case 2:
		return rng.Int64N(int64(20 * time.Millisecond))
	}
	return rng.Int64N(int64(200 * time.Millisecond))
}

// processing draws the time the reference holds a request.
func processing(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return 0
	case 1:
		return rng.Int64N(int64(time.Millisecond))
	case 2:
		return rng.Int64N(int64(50 * time.Millisecond))
	}
	return rng.Int64N(int64(2 * time.Second))
}

// exchangeIn runs one exchange with the reference of w starting at local
// time t1.
func exchangeIn(rng *rand.Rand, w *world, t1 int64) Sample {
	a := t1 + delay(rng)
	b := a + processing(rng)
	t4 := b + delay(rng)
	return Sample{T1: epoch.Add(time.Duration(t1)), T2: w.ref(a), T3: w.ref(b), T4: epoch.Add(time.Duration(t4))}
}

// checker counts Bound checks against the truth and the misses.
type checker struct {
	t      *testing.T
	report bool // report misses as test errors
	checks int
	misses int
}

// check asks f for its bound at local time l and compares it with θ(l).
func (c *checker) check(f *Filter, w *world, l int64) {
	if f.Len() == 0 {
		return // no sample yet: nothing to bound
	}
	b, ok := f.Bound(epoch.Add(time.Duration(l)))
	c.checks++
	if !ok {
		c.misses++
		if c.report {
			c.t.Errorf("at %v: no bound from %d samples", time.Duration(l), f.Len())
		}
		return
	}
	truth := w.theta(l)
	lo, hi := float64(b.Offset-b.Uncertainty), float64(b.Offset+b.Uncertainty)
	if truth < lo-tolerance || truth > hi+tolerance {
		c.misses++
		if c.report && c.misses <= 5 {
			c.t.Errorf("at %v: truth %.1fns outside %v ± %v", time.Duration(l), truth, b.Offset, b.Uncertainty)
		}
	}
}

// simulate runs exchanges against a reference whose drift against the local
// clock is within simDrift, feeding a filter that assumes boundDrift, and
// checks the filter's bound at many local times. With honest (drift within
// the bound) it also requires that no sample is rejected as inconsistent.
func simulate(t *testing.T, seed uint64, simDrift float64, honest bool) checker {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := newWorld(rng, 0, float64(rng.Int64N(int64(10*time.Second))-int64(5*time.Second)), simDrift)
	f := NewFilter(1+rng.IntN(8), boundDrift)
	c := checker{t: t, report: honest}
	l := int64(0)
	for range 300 {
		s := exchangeIn(rng, w, l)
		err := f.Add(s)
		switch {
		case errors.Is(err, ErrBadSample):
			// RTT < 0: drift during a long hold outran the delays. Skip it.
		case errors.Is(err, ErrInconsistent) && honest:
			t.Fatalf("seed %d: honest sample rejected: %v", seed, err)
		}
		t4 := int64(s.T4.Sub(epoch))
		c.check(f, w, t4)
		for range 20 {
			c.check(f, w, rng.Int64N(t4+int64(10*time.Second)))
		}
		l = t4 + int64(10*time.Millisecond) + rng.Int64N(int64(3*time.Second))
	}
	return c
}

func TestBoundContainsTruth(t *testing.T) {
	for seed := range uint64(20) {
		c := simulate(t, seed, boundDrift, true)
		if c.misses > 0 {
			t.Errorf("seed %d: %d of %d bounds missed the truth", seed, c.misses, c.checks)
		}
	}
}

// TestBoundCanFail proves that TestBoundContainsTruth can fail: with the
// clocks drifting ten times faster than the filter assumes, bounds miss.
func TestBoundCanFail(t *testing.T) {
	misses, checks := 0, 0
	for seed := range uint64(5) {
		c := simulate(t, seed, 10*boundDrift, false)
		misses += c.misses
		checks += c.checks
	}
	if misses == 0 {
		t.Errorf("drift 10x the bound: 0 of %d bounds missed the truth, want some", checks)
	}
	t.Logf("drift 10x the bound: %d of %d bounds missed the truth", misses, checks)
}

// TestBoundContainsTruthOutOfOrder feeds honest samples in a random order:
// the intersection is computed per call, so the order must not matter.
func TestBoundContainsTruthOutOfOrder(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 0x0dd))
		w := newWorld(rng, 0, 1e9, boundDrift)
		var samples []Sample
		l := int64(0)
		for range 60 {
			s := exchangeIn(rng, w, l)
			if s.Validate() == nil {
				samples = append(samples, s)
			}
			l = int64(s.T4.Sub(epoch)) + rng.Int64N(int64(2*time.Second))
		}
		rng.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
		f := NewFilter(1+rng.IntN(16), boundDrift)
		c := checker{t: t, report: true}
		for _, s := range samples {
			if err := f.Add(s); err != nil {
				t.Fatalf("seed %d: Add: %v", seed, err)
			}
			for range 20 {
				c.check(f, w, rng.Int64N(l+int64(10*time.Second)))
			}
		}
	}
}

// TestBoundContainsTruthAcrossReferenceChange switches to a new reference
// whose time differs from the old one's by up to d, calls Widen(d), and
// checks the bound against the new reference from then on. Without Widen the
// same run fails.
func TestBoundContainsTruthAcrossReferenceChange(t *testing.T) {
	const d = 30 * time.Millisecond
	run := func(seed uint64, widen bool) (c checker, rejected int) {
		rng := rand.New(rand.NewPCG(seed, 0xc4a6e))
		old := newWorld(rng, 0, 0, boundDrift)
		f := NewFilter(8, boundDrift)
		l := int64(0)
		for range 30 {
			s := exchangeIn(rng, old, l)
			if err := f.Add(s); err != nil && !errors.Is(err, ErrBadSample) {
				t.Fatalf("seed %d: Add before the change: %v", seed, err)
			}
			l = int64(s.T4.Sub(epoch)) + rng.Int64N(int64(time.Second))
		}
		// The new reference was within d of the old at the change.
		sign := float64(1 - 2*rng.IntN(2))
		change := l
		cur := newWorld(rng, change, old.theta(change)+sign*float64(d), boundDrift)
		if widen {
			f.Widen(d)
		}
		c = checker{t: t, report: widen}
		for range 30 {
			s := exchangeIn(rng, cur, l)
			if err := f.Add(s); errors.Is(err, ErrInconsistent) {
				rejected++
			}
			t4 := int64(s.T4.Sub(epoch))
			for range 20 {
				c.check(f, cur, change+rng.Int64N(t4+int64(5*time.Second)-change))
			}
			l = t4 + rng.Int64N(int64(time.Second))
		}
		return c, rejected
	}
	failedWithout := false
	for seed := range uint64(10) {
		c, rejected := run(seed, true)
		if rejected > 0 || c.misses > 0 {
			t.Errorf("seed %d with Widen: %d rejected, %d of %d bounds missed", seed, rejected, c.misses, c.checks)
		}
		c, rejected = run(seed, false)
		failedWithout = failedWithout || rejected > 0 || c.misses > 0
	}
	if !failedWithout {
		t.Error("without Widen no sample was rejected and no bound missed: the test cannot fail")
	}
}
