package chaos

import (
	"slices"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

func TestFailovers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	leases := []check.LeaseRecord{
		{Node: "n5", Term: 1, Start: at(0), End: at(2)},
		{Node: "n3", Term: 3, Start: at(5), End: at(7)}, // recorded out of start order
		{Node: "n4", Term: 2, Start: at(3.5), End: at(4)},
	}
	tests := []struct {
		name    string
		crashes []time.Time
		want    []time.Duration
	}{
		{"none", nil, nil},
		{"next lease", []time.Time{at(2)}, []time.Duration{1500 * time.Millisecond}},
		{"earliest start wins", []time.Time{at(2), at(4)}, []time.Duration{1500 * time.Millisecond, time.Second}},
		{"no lease after", []time.Time{at(4), at(7)}, []time.Duration{time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failovers(tt.crashes, leases); !slices.Equal(got, tt.want) {
				t.Errorf("failovers = %v, want %v", got, tt.want)
			}
		})
	}
	held := []struct {
		node string
		t    time.Time
		want bool
	}{
		{"n5", at(1), true},
		{"n5", at(2), true}, // the crash ends the lease at the crash
		{"n5", at(2.5), false},
		{"n4", at(1), false},
		{"n3", at(6), true},
	}
	for _, h := range held {
		if got := heldAt(leases, h.node, h.t); got != h.want {
			t.Errorf("heldAt(%s, %v) = %v, want %v", h.node, h.t.Sub(t0), got, h.want)
		}
	}
	if got := heldAt([]check.LeaseRecord{{Node: "n1", Start: at(0)}}, "n1", at(9)); !got {
		t.Error("heldAt(open lease) = false, want true")
	}
}
