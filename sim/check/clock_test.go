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
