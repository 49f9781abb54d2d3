package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

func TestElectionVerdictAndExitStatus(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	clean := []sim.LeaseRecord{
		{Node: "n5", ID: "cand-n5", Term: 1, Start: at(0), End: at(2)},
		{Node: "n4", ID: "cand-n4", Term: 2, Start: at(3.5), End: at(9)},
	}
	tests := []struct {
		name       string
		converged  bool
		leases     []sim.LeaseRecord
		wantCode   int
		wantReport []string // lines or parts of lines of the report
		wantStderr []string
	}{
		{
			name: "clean", converged: true, leases: clean, wantCode: 0,
			wantReport: []string{
				`group "sim": 2 leases, 2 distinct leaders (n4 n5), terms 1 to 2`,
				"E1 one leader per term  held\n",
				"E2 terms increase       held\n",
				"E3 leases disjoint      held\n",
				"E4 failover             median 1.5s, max 1.5s (1 of 1 leader crashes followed by a new lease)",
				"final leader            n4 term 2",
			},
		},
		{
			name: "overlap", converged: true, wantCode: 1,
			leases: []sim.LeaseRecord{
				{Node: "n5", ID: "cand-n5", Term: 1, Start: at(0), End: at(2)},
				{Node: "n4", ID: "cand-n4", Term: 2, Start: at(1.75), End: at(9)},
			},
			wantReport: []string{
				"E1 one leader per term  held\n",
				"E2 terms increase       held\n",
				"E3 leases disjoint      BROKEN: n4/cand-n4 (term 2) started 250ms before n5 (term 1) ended\n",
			},
			wantStderr: []string{"gossipsync sim: election property E3 (no two leases overlap in time) BROKEN: n4/cand-n4 (term 2) started 250ms before n5 (term 1) ended\n"},
		},
		{
			name: "term reused", converged: true, wantCode: 1,
			leases: []sim.LeaseRecord{
				{Node: "n5", ID: "cand-n5", Term: 3, Start: at(0), End: at(2)},
				{Node: "n4", ID: "cand-n4", Term: 3, Start: at(3.5), End: at(5)},
				{Node: "n3", ID: "cand-n3", Term: 2, Start: at(6), End: at(9)},
			},
			wantReport: []string{
				"E1 one leader per term  BROKEN: term 3 held by n5/cand-n5 and n4/cand-n4\n",
				"E2 terms increase       BROKEN: n4/cand-n4 got term 3 at ",
				"(and 1 more)\n",
				"E3 leases disjoint      held\n",
			},
			wantStderr: []string{
				"gossipsync sim: election property E1 (at most one leader per term) BROKEN: term 3 held by n5/cand-n5 and n4/cand-n4\n",
				"gossipsync sim: election property E2 (terms strictly increase) BROKEN: ",
			},
		},
		{
			name: "not converged", converged: false, leases: clean, wantCode: 1,
			wantReport: []string{"E3 leases disjoint      held\n"},
			wantStderr: []string{"gossipsync sim: the cluster did not re-converge within 30s after the final heal\n"},
		},
		{
			name: "no leases", converged: true, wantCode: 0,
			wantReport: []string{`election                group "sim": no leases`, "E1 one leader per term  held\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var final *sim.LeaseRecord
			if len(tt.leases) > 0 {
				final = &tt.leases[len(tt.leases)-1]
			}
			rep := &report{
				FinalConverged: tt.converged,
				Election:       newElectionReport(tt.leases, []time.Time{at(2)}, final, nil, at(10)),
			}
			var out, stderr bytes.Buffer
			rep.print(&out)
			code := exitStatus(rep, &stderr)
			if code != tt.wantCode || rep.OK() != (tt.wantCode == 0) {
				t.Errorf("exit status = %d, OK = %v; want %d", code, rep.OK(), tt.wantCode)
			}
			for _, w := range tt.wantReport {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tt.wantCode == 0 && stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

func TestFailovers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	leases := []sim.LeaseRecord{
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
	if got := heldAt([]sim.LeaseRecord{{Node: "n1", Start: at(0)}}, "n1", at(9)); !got {
		t.Error("heldAt(open lease) = false, want true")
	}
}

// TestAimedCrashesKeepTheRules aims the crashes at random alive nodes as
// the runner aims them at the leader or the clock reference, and checks
// the renamed schedule.
func TestAimedCrashesKeepTheRules(t *testing.T) {
	for _, nodes := range []int{3, 5, 9, 12} {
		names := nodeNames(nodes)
		firsts := map[target]int{}
		for seed := range int64(50) {
			s := buildSchedule(seed, 5*time.Minute, names, userFaults)
			rng := rand.New(rand.NewPCG(uint64(seed), 1))
			var crashed []string
			var aims []target
			for i := range s {
				switch s[i].Fault {
				case faultCrash:
					aims = append(aims, s[i].Target)
					if s[i].Target != targetNode {
						alive := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(crashed, n) })
						swapNodes(s[i:], s[i].Node, alive[rng.IntN(len(alive))])
					}
					crashed = append(crashed, s[i].Node)
				case faultRestart:
					crashed = slices.DeleteFunc(crashed, func(n string) bool { return n == s[i].Node })
				}
			}
			if len(aims) < 3 {
				t.Fatalf("%d nodes, seed %d: %d crashes in 5 minutes; want at least 3", nodes, seed, len(aims))
			}
			firsts[aims[0]]++
			if err := checkAims(aims); err != nil {
				t.Fatalf("%d nodes, seed %d: %v", nodes, seed, err)
			}
			if err := checkSchedule(s, 5*time.Minute, names, allFaults); err != nil {
				t.Fatalf("%d nodes, seed %d: %v\nschedule: %v", nodes, seed, err, s)
			}
		}
		if firsts[targetLeader] == 0 || firsts[targetReference] == 0 {
			t.Errorf("%d nodes: the first crash aims at the leader in %d seeds, at the reference in %d; want both to occur",
				nodes, firsts[targetLeader], firsts[targetReference])
		}
	}
}

// checkAims checks the rotation: the leader and the reference in either
// order, then the node drawn, and again.
func checkAims(aims []target) error {
	if a, b := aims[0], aims[1]; a == targetNode || b == targetNode || a == b {
		return fmt.Errorf("first two crashes aim at %v and %v; want the leader and the reference", a, b)
	}
	for i, a := range aims {
		if want := []target{aims[0], aims[1], targetNode}[i%3]; a != want {
			return fmt.Errorf("crash %d aims at %v, want %v (aims %v)", i, a, want, aims)
		}
	}
	return nil
}
