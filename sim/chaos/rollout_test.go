package chaos

import (
	"slices"
	"testing"
	"time"
)

// TestRolloutSchedule checks that the rollout scenario crashes and
// restarts every node once, one at a time, when its duration allows, and
// the first nodes only when it does not; and that a rollout in all
// restarts at least one node within its phase.
func TestRolloutSchedule(t *testing.T) {
	sc, err := lookupScenario("rollout")
	if err != nil {
		t.Fatal(err)
	}
	for _, nodes := range []int{3, 5, 9} {
		for seed := range int64(20) {
			for _, d := range []time.Duration{rolloutSpan(nodes), rolloutSpan(nodes) + time.Minute, minPhase} {
				s := buildSchedule(seed, d, nodeNames(nodes), sc)
				var restarted []string
				for i := 0; i < len(s); i += 2 {
					c, r := s[i], s[i+1]
					if c.Fault != faultCrash || r.Fault != faultRestart || c.Node != r.Node || c.Roll != i/2+1 || c.RollOf != nodes || c.Target != targetNode {
						t.Fatalf("%d nodes, %v, seed %d: phases %d and %d are %v and %v, want the crash and restart of one node, step %d of %d", nodes, d, seed, i, i+1, c, r, i/2+1, nodes)
					}
					if c.Length < minRestartAfter || c.Length > maxRestartAfter || r.Length < rejoinWait {
						t.Fatalf("%d nodes, %v, seed %d: %v for %v, %v for %v", nodes, d, seed, c, c.Length, r, r.Length)
					}
					restarted = append(restarted, r.Node)
				}
				full := d >= rolloutSpan(nodes)
				if slices.Sort(restarted); full && !slices.Equal(restarted, nodeNames(nodes)) || len(restarted) == 0 || len(slices.Compact(restarted)) != len(restarted) {
					t.Fatalf("%d nodes, %v, seed %d: restarted %v, want each node once (all of them: %v)", nodes, d, seed, restarted, full)
				}
			}
		}
	}
	all, _ := lookupScenario("all")
	for seed := range int64(20) {
		s := buildSchedule(seed, time.Minute, nodeNames(5), all)
		if !slices.ContainsFunc(s, func(p phase) bool { return p.RollOf > 0 && p.Fault == faultRestart }) {
			t.Errorf("seed %d: all made no rollout in a minute: %v", seed, s)
		}
	}
}
