package realnet

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestScheduleEveryKind: nine faults make the nine kinds, and a seed
// gives the same schedule again.
func TestScheduleEveryKind(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	run := func(seed uint64) []Fault {
		s := NewSchedule(rand.New(rand.NewPCG(seed, 1)), nodes)
		var fs []Fault
		for range 9 {
			fs = append(fs, s.Next())
		}
		return fs
	}
	fs := run(7)
	kinds := map[string]bool{}
	for _, f := range fs {
		kinds[f.Kind] = true
		if f.For <= 0 {
			t.Errorf("%v lasts no time", f)
		}
	}
	if len(kinds) != 9 {
		t.Errorf("nine faults made %d kinds: %v", len(kinds), fs)
	}
	if again := run(7); !slices.EqualFunc(fs, again, func(a, b Fault) bool { return a.String() == b.String() }) {
		t.Errorf("seed 7 gave two schedules:\n%v\n%v", fs, again)
	}
}
