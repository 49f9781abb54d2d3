package check

import (
	"errors"
	"testing"
	"time"
)

// ClockSeries sorts and measures the readings as ClockCheck judges them:
// signed errors against the reference, whose |error| is what the checker
// records, and the same counts of judged and stale readings.
func TestClockSeriesAgreesWithClockCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	reading := func(node string, midOff, half time.Duration, term uint64, isRef bool, took time.Duration) Reading {
		m := t0.Add(midOff)
		return Reading{
			Node: node, At: t0, Done: t0.Add(took), NowAt: t0.Add(took), Now: m,
			Interval: Interval{Earliest: m.Add(-half), Latest: m.Add(half)},
			Stats:    ClockStats{IsReference: isRef, Term: term},
		}
	}
	rs := []Reading{
		reading("n1", 0, time.Millisecond, 2, true, 0),                                    // the reference
		reading("n2", 3*time.Millisecond, 5*time.Millisecond, 2, false, 0),                // 3 ms ahead
		reading("n3", -2*time.Millisecond, time.Millisecond, 2, false, 0),                 // 2 ms behind
		reading("n4", time.Millisecond, time.Millisecond, 1, false, 0),                    // on term 1: stale
		reading("n5", 4*time.Millisecond, time.Millisecond, 2, false, 2*time.Millisecond), // read 1 ms later (center): 3 ms ahead
		{Node: "n6", At: t0, Done: t0, Err: errors.New("unsynced")},
	}
	got := ClockSeries(rs)
	want := []struct {
		state ClockState
		err   time.Duration
		unc   time.Duration
	}{
		{ClockReference, 0, time.Millisecond},
		{ClockJudged, 3 * time.Millisecond, 5 * time.Millisecond},
		{ClockJudged, -2 * time.Millisecond, time.Millisecond},
		{ClockStale, 0, time.Millisecond},
		{ClockJudged, 3 * time.Millisecond, time.Millisecond},
		{ClockUnsynced, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points, want %d", len(got), len(want))
	}
	for i, w := range want {
		p := got[i]
		if p.Node != rs[i].Node || p.State != w.state || p.Error != w.err || p.Uncertainty != w.unc {
			t.Errorf("point %d = %+v (%v), want state %v, error %v, uncertainty %v", i, p, p.State, w.state, w.err, w.unc)
		}
	}

	k := NewClockCheck()
	k.Add(rs)
	var judged, stale int
	var errs []time.Duration
	for _, p := range got {
		switch p.State {
		case ClockJudged:
			judged++
			errs = append(errs, absDur(p.Error))
		case ClockStale:
			stale++
		}
	}
	if k.Judged != judged || k.Stale != stale {
		t.Errorf("checker judged %d, stale %d; series judged %d, stale %d", k.Judged, k.Stale, judged, stale)
	}
	for i := range errs {
		if k.Errors[i] != errs[i] {
			t.Errorf("checker error %d = %v, series |error| = %v", i, k.Errors[i], errs[i])
		}
	}
}

// Without a reference nothing is judged.
func TestClockSeriesNoReference(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := Interval{Earliest: t0, Latest: t0.Add(2 * time.Millisecond)}
	got := ClockSeries([]Reading{{Node: "n1", At: t0, Done: t0, Interval: iv, Stats: ClockStats{Term: 3}}})
	if len(got) != 1 || got[0].State != ClockNoReference || got[0].Uncertainty != time.Millisecond {
		t.Fatalf("got %+v, want one point with no reference and ±1ms", got)
	}
}
