package chaos

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScaleSchedule checks the shape of the scale scenario's schedule:
// joins of new nodes, named in order, up to the peak, then as many
// leaves of nodes alive then, down to the starting size, each step
// numbered in its description; all of it when the duration allows, and
// as many steps up as down when it does not.
func TestScaleSchedule(t *testing.T) {
	sc, err := lookupScenario("scale")
	if err != nil {
		t.Fatal(err)
	}
	if scaleSpan(3) > 30*time.Second {
		t.Fatalf("a scale of 3 nodes takes %v, longer than the default -duration", scaleSpan(3))
	}
	for _, nodes := range []int{3, 5, 20, 40} {
		for seed := range int64(20) {
			for _, d := range []time.Duration{scaleSpan(nodes), 30 * time.Second, minPhase} {
				s := buildSchedule(seed, d, nodeNames(nodes), sc)
				full := d >= scaleSpan(nodes)
				up := len(s) / 2
				if want := scalePeak(nodes) - nodes; full && up != want || len(s) != 2*up || up < 1 {
					t.Fatalf("%d nodes, %v, seed %d: %d steps, want %d up and as many down (full: %v)", nodes, d, seed, len(s), want, full)
				}
				alive := nodeNames(nodes)
				var end time.Duration
				for i, p := range s {
					want := faultJoin
					if i >= up {
						want = faultLeave
					}
					if p.Fault != want || p.Step != i+1 || p.Steps != len(s) || p.Target != targetNode || p.Start != end || p.Length < scaleStep {
						t.Fatalf("%d nodes, %v, seed %d: step %d is %v at %v for %v, want a %s, step %d of %d, at %v", nodes, d, seed, i, p, p.Start, p.Length, want, i+1, len(s), end)
					}
					if suffix := fmt.Sprintf(" (scale %d/%d)", i+1, len(s)); !strings.HasSuffix(p.String(), suffix) {
						t.Fatalf("step %d is described %q, want it to end with %q", i, p.String(), suffix)
					}
					switch p.Fault {
					case faultJoin:
						if name := fmt.Sprintf("n%d", nodes+i+1); p.Node != name {
							t.Fatalf("%d nodes, seed %d: join %d is of %s, want %s", nodes, seed, i, p.Node, name)
						}
						alive = append(alive, p.Node)
					case faultLeave:
						if !slices.Contains(alive, p.Node) {
							t.Fatalf("%d nodes, seed %d: %v: %s is not alive (%v)", nodes, seed, p, p.Node, alive)
						}
						alive = slices.DeleteFunc(alive, func(n string) bool { return n == p.Node })
					}
					end = p.Start + p.Length
					if i == up-1 && full && len(alive) != scalePeak(nodes) {
						t.Fatalf("%d nodes, seed %d: %d alive at the peak, want %d", nodes, seed, len(alive), scalePeak(nodes))
					}
				}
				if end != d || len(alive) != nodes {
					t.Fatalf("%d nodes, %v, seed %d: the steps fill %v and leave %d nodes; want %v and %d", nodes, d, seed, end, len(alive), d, nodes)
				}
			}
		}
	}
	// The leaves draw from every alive node, the first ones too, so that
	// the voters leave in some runs.
	left := map[string]bool{}
	for seed := range int64(20) {
		for _, p := range buildSchedule(seed, scaleSpan(3), nodeNames(3), sc) {
			if p.Fault == faultLeave {
				left[p.Node] = true
			}
		}
	}
	for _, n := range nodeNames(3) {
		if !left[n] {
			t.Errorf("no seed below 20 makes %s leave", n)
		}
	}
	a, b := buildSchedule(1, 30*time.Second, nodeNames(3), sc), buildSchedule(1, 30*time.Second, nodeNames(3), sc)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, buildSchedule(2, 30*time.Second, nodeNames(3), sc)) {
		t.Errorf("the schedule does not follow the seed: seed 1 gave %v and %v", a, b)
	}
}

// TestScaleSize checks that -nodes is refused for the scale scenario when
// its peak would pass maxSimSize, and accepted up to there.
func TestScaleSize(t *testing.T) {
	most := maxSimSize * 2 / 3
	if err := (Options{Scenario: "scale", Nodes: most}).Check(); err != nil || scalePeak(most) > maxSimSize {
		t.Errorf("Check of a scale of %d = %v (peak %d); want nil, a peak within %d", most, err, scalePeak(most), maxSimSize)
	}
	if err := (Options{Scenario: "scale", Nodes: most + 1}).Check(); err == nil {
		t.Errorf("Check of a scale of %d = nil, want an error (peak %d > %d)", most+1, scalePeak(most+1), maxSimSize)
	}
}

// A step of a scale gets scaleStepWait to take effect even when the step
// is shorter; any other phase ends with its length.
func TestPhaseDeadline(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start.Add(time.Second)
	tests := []struct {
		name string
		p    phase
		want time.Time
	}{
		{"a step of a scale", phase{Fault: faultJoin, Start: time.Second, Length: scaleStep, Step: 1, Steps: 2}, now.Add(scaleStepWait)},
		{"the last, long step", phase{Fault: faultLeave, Start: time.Second, Length: time.Minute, Step: 2, Steps: 2}, now.Add(time.Minute)},
		{"a join of churn", phase{Fault: faultJoin, Start: time.Second, Length: scaleStep}, now.Add(scaleStep)},
	}
	for _, tt := range tests {
		if got := tt.p.deadline(start, now); !got.Equal(tt.want) {
			t.Errorf("%s: deadline %v after now, want %v", tt.name, got.Sub(now), tt.want.Sub(now))
		}
	}
}
