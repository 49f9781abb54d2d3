package check

import (
	"errors"
	"testing"
	"time"
)

// NowOff flags a Now off its interval by more than NowSlack plus the
// node's previous uncertainty, and nothing within that.
func TestClockCheckNowOff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := Interval{Earliest: t0, Latest: t0.Add(2 * time.Millisecond)} // ±1 ms
	tests := []struct {
		name string
		now  time.Time
		err  error
		off  bool
	}{
		{"inside", t0.Add(time.Millisecond), nil, false},
		{"on the edge", t0.Add(2 * time.Millisecond), nil, false},
		{"within slack and the previous uncertainty", t0.Add(3900 * time.Microsecond), nil, false},
		{"unsynced", t0.Add(9 * time.Second), errors.New("unsynced"), false},
		{"ahead", t0.Add(5 * time.Second), nil, true},
		{"behind", t0.Add(-time.Second), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewClockCheck()
			k.lastU["n1"] = time.Millisecond // the node's previous reading had ±1 ms
			k.Add([]Reading{{Node: "n1", At: t0, Done: t0, NowAt: t0, Now: tt.now, Interval: iv, Err: tt.err}})
			if got := len(k.NowOff) > 0; got != tt.off {
				t.Fatalf("NowOff = %q, want flagged=%v", k.NowOff, tt.off)
			}
		})
	}
}

// Between two observations a node's uncertainty grows by its MaxDrift
// times the time since (its samples age), and Now may hold a value read
// at any moment between: 100 ms after a ±1 ms reading, at MaxDrift 8 %,
// it may lie up to 1 ms + 8 ms (+ NowSlack) outside.
func TestClockCheckNowOffGrowsWithDrift(t *testing.T) {
	t0 := time.Unix(1000, 0)
	iv := Interval{Earliest: t0, Latest: t0.Add(2 * time.Millisecond)}
	for _, tt := range []struct {
		past time.Duration // Now's distance past Latest
		off  bool
	}{{9500 * time.Microsecond, false}, {10500 * time.Microsecond, true}} {
		k := NewClockCheck()
		k.Drift = 0.08
		k.lastU["n1"], k.lastAt["n1"] = time.Millisecond, t0.Add(-100*time.Millisecond)
		k.Add([]Reading{{Node: "n1", At: t0, Done: t0, NowAt: t0, Now: iv.Latest.Add(tt.past), Interval: iv}})
		if got := len(k.NowOff) > 0; got != tt.off {
			t.Errorf("Now %v past its interval: NowOff = %q, want flagged=%v", tt.past, k.NowOff, tt.off)
		}
	}
}

// The reference's time at another instant is known only to within Rate
// times the real time between: a node read 2 ms after a reference whose
// clock runs 4 % fast is right to be 80 µs ahead of what rate 1 gives.
func TestClockCheckRate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ref := Reading{Node: "n1", At: t0, Done: t0, Stats: ClockStats{IsReference: true, Term: 1},
		Interval: Interval{Earliest: t0, Latest: t0}}
	at := t0.Add(2 * time.Millisecond)
	truth := t0.Add(2080 * time.Microsecond) // the reference's time then, at +4 %
	node := Reading{Node: "n2", At: at, Done: at, Stats: ClockStats{Term: 1},
		Interval: Interval{Earliest: truth.Add(-10 * time.Microsecond), Latest: truth.Add(10 * time.Microsecond)}}
	for _, tt := range []struct {
		rate float64
		miss bool
	}{{0, true}, {0.04, false}} {
		k := NewClockCheck()
		k.Rate = tt.rate
		k.Add([]Reading{ref, node})
		if got := len(k.C1Misses) > 0; got != tt.miss {
			t.Errorf("Rate %v: C1 misses %q, want a miss: %v", tt.rate, k.C1Misses, tt.miss)
		}
	}
}

// C2 compares a process's readings with its own: Now going back on a
// running clock breaks it, and a restarted node's new clock starts
// afresh.
func TestClockCheckC2Restart(t *testing.T) {
	t0 := time.Unix(1000, 0)
	read := func(now time.Time) Reading {
		iv := Interval{Earliest: now.Add(-time.Millisecond), Latest: now.Add(time.Millisecond)}
		return Reading{Node: "n1", At: t0, Done: t0, NowAt: t0, Now: now, Interval: iv}
	}
	k := NewClockCheck()
	k.Add([]Reading{read(t0.Add(time.Second))})
	k.Add([]Reading{read(t0)})
	if len(k.C2Backwards) != 1 {
		t.Fatalf("C2 = %q, want Now going back flagged", k.C2Backwards)
	}
	k = NewClockCheck()
	k.Add([]Reading{read(t0.Add(time.Second))})
	k.Restarted("n1")
	k.Add([]Reading{read(t0)})
	if len(k.C2Backwards) != 0 {
		t.Fatalf("C2 = %q across a restart, want nothing", k.C2Backwards)
	}
}
