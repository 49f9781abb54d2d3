package timesync

import (
	"errors"
	"math"
	"testing"
	"time"
)

func mustAdd(t *testing.T, f *Filter, s Sample) {
	t.Helper()
	if err := f.Add(s); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func wantBound(t *testing.T, f *Filter, when time.Time, want Bound) {
	t.Helper()
	got, ok := f.Bound(when)
	if !ok || got != want {
		t.Errorf("Bound = %+v, %v; want %+v, true", got, ok, want)
	}
}

func TestFilterEmpty(t *testing.T) {
	f := NewFilter(4, 1e-3)
	if b, ok := f.Bound(at(0)); ok {
		t.Errorf("empty filter: Bound = %+v, true; want false", b)
	}
	if f.Len() != 0 || f.BestRTT() != 0 {
		t.Errorf("empty filter: Len %d, BestRTT %v; want 0, 0", f.Len(), f.BestRTT())
	}
}

func TestFilterIntersectionTightens(t *testing.T) {
	f := NewFilter(4, 0)
	mustAdd(t, f, exchange(0, 0, 9*ms, 0, 1*ms)) // offset 4ms ± 5ms: [-1ms, 9ms]
	wantBound(t, f, at(time.Second), Bound{4 * ms, 5 * ms})
	mustAdd(t, f, exchange(time.Second, 0, 1*ms, 0, 7*ms)) // -3ms ± 4ms: [-7ms, 1ms]
	wantBound(t, f, at(time.Second), Bound{0, 1 * ms})
	if got := f.BestRTT(); got != 8*ms {
		t.Errorf("BestRTT = %v, want 8ms", got)
	}
}

func TestFilterIntersectionWithDrift(t *testing.T) {
	f := NewFilter(4, 1e-3)
	a := exchange(0, 0, 9*ms, 0, 1*ms)           // [-1ms, 9ms] at T4 = 10ms, + 1e-3 per ms of age
	b := exchange(time.Second, 0, 1*ms, 0, 7*ms) // [-7ms, 1ms] at T4 = 1.008s
	mustAdd(t, f, a)
	mustAdd(t, f, b)
	// At 2.008s: a is 4ms ± (5ms + 1e-3*2.008s), b is -3ms ± (4ms + 1e-3*1.008s).
	// lo = 4ms - 7.008ms = -3.008ms; hi = -3ms + 5.008ms = 2.008ms.
	wantBound(t, f, at(2008*ms), Bound{-500 * time.Microsecond, 2508 * time.Microsecond})
}

func TestFilterRejectsOutside(t *testing.T) {
	f := NewFilter(4, 1e-3)
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms)) // 0 ± 5ms
	// 1s later the filter allows 0 ± 6.01ms; this says 20ms ± 1ms.
	err := f.Add(exchange(time.Second, 20*ms, 1*ms, 0, 1*ms))
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Add = %v, want ErrInconsistent", err)
	}
	if f.Len() != 1 {
		t.Errorf("Len = %d after a rejection, want 1", f.Len())
	}
	// Just touching the bound is consistent: 11ms ± 5ms meets 0 ± 6.01ms.
	mustAdd(t, f, exchange(time.Second, 6*ms, 10*ms, 0, 0))
	if f.Len() != 2 {
		t.Errorf("Len = %d, want 2", f.Len())
	}
}

func TestFilterThreeInARowReset(t *testing.T) {
	f := NewFilter(4, 1e-3)
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms))
	mustAdd(t, f, exchange(time.Second, 0, 5*ms, 0, 5*ms))
	stepped := func(i int) Sample { // the reference stepped 50ms
		return exchange(time.Duration(2+i)*time.Second, 50*ms, 2*ms, 0, 2*ms)
	}
	for i := range 2 {
		if err := f.Add(stepped(i)); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("sample %d: Add = %v, want ErrInconsistent", i, err)
		}
	}
	// A bad sample neither counts nor breaks the run.
	if err := f.Add(Sample{}); !errors.Is(err, ErrBadSample) {
		t.Fatalf("Add(zero) = %v, want ErrBadSample", err)
	}
	mustAdd(t, f, stepped(2))
	if f.Len() != 1 {
		t.Fatalf("Len = %d after the reset, want 1", f.Len())
	}
	wantBound(t, f, stepped(2).T4, stepped(2).BoundAt(stepped(2).T4, 1e-3))
	mustAdd(t, f, stepped(3)) // consistent with the new reality
}

func TestFilterRejectionsMustBeConsecutive(t *testing.T) {
	f := NewFilter(4, 1e-3)
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms))
	bad := exchange(time.Second, 50*ms, 2*ms, 0, 2*ms)
	good := exchange(time.Second, 0, 2*ms, 0, 2*ms)
	for i, s := range []Sample{bad, bad, good, bad, bad} {
		err := f.Add(s)
		if wantOK := i == 2; wantOK != (err == nil) {
			t.Fatalf("sample %d: Add = %v", i, err)
		}
	}
	if f.Len() != 2 {
		t.Errorf("Len = %d, want 2", f.Len())
	}
}

func TestFilterWiden(t *testing.T) {
	f := NewFilter(4, 0)
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms)) // 0 ± 5ms
	f.Widen(20 * ms)
	wantBound(t, f, at(time.Second), Bound{0, 25 * ms})
	f.Widen(-time.Second) // never narrows
	wantBound(t, f, at(time.Second), Bound{0, 25 * ms})
	// The new reference is 20ms ahead of the old: consistent after Widen.
	mustAdd(t, f, exchange(time.Second, 20*ms, 1*ms, 0, 1*ms)) // 20ms ± 1ms
	wantBound(t, f, at(2*time.Second), Bound{20 * ms, 1 * ms})
	// Widen applies to every kept sample: 20ms ± 1ms becomes 20ms ± 3ms.
	f.Widen(2 * ms)
	wantBound(t, f, at(2*time.Second), Bound{20 * ms, 3 * ms})
	// A sample added later is not widened: [17ms, 23ms] ∩ [15ms, 17ms] = [17ms, 17ms].
	if err := f.Add(exchange(2*time.Second, 16*ms, 1*ms, 0, 1*ms)); err != nil {
		t.Fatalf("Add: %v", err)
	}
	wantBound(t, f, at(2*time.Second), Bound{17 * ms, 0})
}

func TestFilterWindowEviction(t *testing.T) {
	tests := []struct {
		name    string
		t1s     []time.Duration // request times, in the order added
		rtts    []time.Duration
		wantRTT time.Duration // best RTT left after the earliest T4 is dropped
	}{
		{"in order", []time.Duration{0, time.Second, 2 * time.Second}, []time.Duration{2 * ms, 6 * ms, 8 * ms}, 6 * ms},
		{"out of order", []time.Duration{3 * time.Second, 0, 2 * time.Second}, []time.Duration{8 * ms, 2 * ms, 6 * ms}, 6 * ms},
		{"newest is oldest", []time.Duration{3 * time.Second, 2 * time.Second, 0}, []time.Duration{8 * ms, 6 * ms, 2 * ms}, 6 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFilter(2, 1e-3)
			for i, t1 := range tt.t1s {
				mustAdd(t, f, exchange(t1, 0, tt.rtts[i]/2, 0, tt.rtts[i]/2))
			}
			if f.Len() != 2 {
				t.Errorf("Len = %d, want 2", f.Len())
			}
			if got := f.BestRTT(); got != tt.wantRTT {
				t.Errorf("BestRTT = %v, want %v", got, tt.wantRTT)
			}
		})
	}
}

func TestFilterOrderDoesNotMatter(t *testing.T) {
	samples := []Sample{
		exchange(0, 3*ms, 9*ms, 0, 1*ms),
		exchange(time.Second, 3*ms, 1*ms, 2*ms, 7*ms),
		exchange(2*time.Second, 3*ms, 4*ms, 0, 3*ms),
		exchange(5*time.Second, 3*ms, 20*ms, 0, 20*ms),
	}
	fwd, rev := NewFilter(8, 2e-3), NewFilter(8, 2e-3)
	for i := range samples {
		mustAdd(t, fwd, samples[i])
		mustAdd(t, rev, samples[len(samples)-1-i])
	}
	for _, when := range []time.Duration{-time.Second, 0, 1500 * ms, 3 * time.Second, time.Minute} {
		a, aok := fwd.Bound(at(when))
		b, bok := rev.Bound(at(when))
		if a != b || !aok || !bok {
			t.Errorf("at %v: in order %+v %v, reversed %+v %v", when, a, aok, b, bok)
		}
		if !a.Contains(at(when), at(when+3*ms)) {
			t.Errorf("at %v: %+v does not contain the truth 3ms", when, a)
		}
	}
}

func TestFilterReset(t *testing.T) {
	f := NewFilter(4, 1e-3)
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms))
	f.Reset()
	if f.Len() != 0 {
		t.Errorf("Len = %d after Reset, want 0", f.Len())
	}
	mustAdd(t, f, exchange(time.Second, time.Hour, 5*ms, 0, 5*ms)) // anything goes now
}

func TestFilterHugeUncertainty(t *testing.T) {
	f := NewFilter(4, math.Inf(1))
	mustAdd(t, f, exchange(0, 0, 5*ms, 0, 5*ms))
	f.Widen(math.MaxInt64)
	b, ok := f.Bound(at(time.Hour))
	if !ok || b.Uncertainty < MaxUncertainty || !b.Contains(at(time.Hour), at(time.Hour)) {
		t.Errorf("Bound = %+v, %v; want a huge bound containing 0", b, ok)
	}
}

func TestNewFilterPanics(t *testing.T) {
	for _, tt := range []struct {
		name     string
		window   int
		maxDrift float64
	}{{"zero window", 0, 1e-3}, {"negative drift", 1, -1e-3}, {"NaN drift", 1, math.NaN()}} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFilter(%d, %v) did not panic", tt.window, tt.maxDrift)
				}
			}()
			NewFilter(tt.window, tt.maxDrift)
		})
	}
}

func TestFilterShift(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := NewFilter(4, 1e-3)
	if err := f.Add(Sample{T1: t0, T2: t0.Add(5 * time.Second), T3: t0.Add(5 * time.Second), T4: t0.Add(2 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	before, _ := f.Bound(t0.Add(time.Second))
	f.Shift(time.Hour) // the local clock jumped an hour ahead
	after, ok := f.Bound(t0.Add(time.Hour + time.Second))
	if !ok {
		t.Fatal("no bound after Shift")
	}
	if after.Offset != before.Offset-time.Hour || after.Uncertainty != before.Uncertainty {
		t.Fatalf("after Shift(1h): %+v, want offset %v and uncertainty %v", after, before.Offset-time.Hour, before.Uncertainty)
	}
}
