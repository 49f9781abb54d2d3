package chaos

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestBuildScheduleIsDeterministic(t *testing.T) {
	names := nodeNames(5)
	for _, sc := range scenarios {
		for seed := range int64(20) {
			a := buildSchedule(seed, time.Minute, names, sc)
			b := buildSchedule(seed, time.Minute, names, sc)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s, seed %d: two schedules differ:\n%v\n%v", sc.Name, seed, a, b)
			}
		}
		if reflect.DeepEqual(buildSchedule(1, time.Minute, names, sc), buildSchedule(2, time.Minute, names, sc)) {
			t.Errorf("%s: seeds 1 and 2 gave the same schedule", sc.Name)
		}
	}
}

// TestSchedulesFollowTheRules builds the schedules of every scenario for
// many sizes, lengths and seeds, aims the phases that aim at a role at
// random alive nodes as the runner does, and checks the rules.
func TestSchedulesFollowTheRules(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			allowed := slices.Clone(sc.Faults)
			if slices.ContainsFunc(sc.Faults, fault.cuts) {
				allowed = append(allowed, faultHeal)
			}
			if slices.Contains(sc.Faults, faultCrash) || slices.Contains(sc.Faults, faultRollout) {
				allowed = append(allowed, faultCrash, faultRestart)
			}
			if slices.Contains(sc.Faults, faultScale) {
				allowed = append(allowed, faultJoin, faultLeave)
			}
			if slices.Contains(sc.Faults, faultOutage) {
				allowed = append(allowed, faultRestartAll)
			}
			if slices.Equal(sc.Faults, []fault{faultLeave, faultJoin}) {
				allowed = append(allowed, faultLoss) // when churn can go neither way
			}
			for _, nodes := range []int{3, 4, 5, 9, 20} {
				for _, d := range []time.Duration{3 * time.Second, 8 * time.Second, 30 * time.Second, 5 * time.Minute} {
					for seed := range int64(30) {
						s := buildSchedule(seed, d, nodeNames(nodes), sc)
						aimAtRandom(s, nodeNames(nodes), seed)
						if err := checkSchedule(s, d, nodeNames(nodes), allowed); err != nil {
							t.Fatalf("%d nodes, %v, seed %d: %v\nschedule: %v", nodes, d, seed, err, s)
						}
						if f, ok := missingFault(s, sc); ok && d >= 5*time.Minute {
							t.Fatalf("%d nodes, %v, seed %d: no %v phase in %v", nodes, d, seed, f, s)
						}
						if err := checkAims(s); err != nil {
							t.Fatalf("%d nodes, %v, seed %d: %v", nodes, d, seed, err)
						}
					}
				}
			}
		})
	}
}

// aimAtRandom plays the runner: each phase with a Target hits a random
// alive node instead of the one drawn.
func aimAtRandom(s []phase, names []string, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	alive := slices.Clone(names)
	for i := range s {
		p := &s[i]
		if p.Target != targetNode {
			swapNodes(s[i:], p.Node, alive[rng.IntN(len(alive))])
		}
		switch p.Fault {
		case faultCrash, faultLeave:
			alive = slices.DeleteFunc(alive, func(n string) bool { return n == p.Node })
		case faultRestart, faultJoin:
			alive = append(alive, p.Node)
		}
	}
}

// checkSchedule returns the first rule that s breaks.
func checkSchedule(s []phase, d time.Duration, names []string, allowed []fault) error {
	var at time.Duration
	var crashed, left []string
	names = slices.Clone(names)
	cut := false
	for i, p := range s {
		alive := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(crashed, n) || slices.Contains(left, n) })
		isAlive := slices.Contains(alive, p.Node)
		if !slices.Contains(allowed, p.Fault) {
			return fmt.Errorf("phase %d: %v is not among %v", i, p.Fault, allowed)
		}
		least := minPhase
		switch {
		case p.RollOf > 0:
			least = min(minRestartAfter, rejoinWait) // a step of a rollout
		case p.Steps > 0:
			least = scaleStep
		case p.Fault == faultOutage, p.Fault == faultRestartAll:
			least = minOutage
		}
		if p.Start != at || p.Length < least {
			return fmt.Errorf("phase %d: starts at %v for %v; want start %v, length >= %v", i, p.Start, p.Length, at, least)
		}
		at += p.Length
		if cut != (p.Fault == faultHeal) {
			return fmt.Errorf("phase %d: %v; a heal must follow each cut, and only a cut", i, p.Fault)
		}
		cut = p.Fault.cuts()
		if cut && len(alive) < 3 {
			return fmt.Errorf("phase %d: %v of %d alive nodes", i, p, len(alive))
		}
		switch p.Fault {
		case faultPartition, faultIsolate:
			if err := checkSides(alive, "", p.Majority, p.Minority); err != nil {
				return fmt.Errorf("phase %d: %v", i, err)
			}
			if len(p.Majority) <= len(p.Minority) {
				return fmt.Errorf("phase %d: %v is not a majority/minority split", i, p)
			}
			if p.Fault == faultIsolate && !slices.Equal(p.Minority, []string{p.Node}) {
				return fmt.Errorf("phase %d: %v does not isolate %s", i, p, p.Node)
			}
		case faultSplit:
			if err := checkSides(alive, "", p.Sides...); err != nil {
				return fmt.Errorf("phase %d: %v", i, err)
			}
			for _, side := range p.Sides {
				if 2*len(side) > len(alive) {
					return fmt.Errorf("phase %d: %v has a side with a majority of the alive nodes", i, p)
				}
			}
		case faultBridge:
			if err := checkSides(alive, p.Node, p.Majority, p.Minority); err != nil || len(p.Minority) == 0 || len(p.Majority) < len(p.Minority) {
				return fmt.Errorf("phase %d: %v is not two sides and a bridge (%v)", i, p, err)
			}
		case faultCrash:
			if !isAlive {
				return fmt.Errorf("phase %d: crashes %s, which is not an alive node", i, p.Node)
			}
			crashed = append(crashed, p.Node)
			if basis := len(alive) + len(crashed) - 1; len(crashed) > maxDown(basis) {
				return fmt.Errorf("phase %d: %d of %d nodes down at once", i, len(crashed), basis)
			}
		case faultOutage:
			if len(crashed) > 0 || p.Node != "" {
				return fmt.Errorf("phase %d: an outage with %v down already", i, crashed)
			}
			crashed = slices.Clone(alive)
		case faultRestartAll:
			if i == 0 || s[i-1].Fault != faultOutage {
				return fmt.Errorf("phase %d: a restart of every node without an outage before it", i)
			}
			crashed = nil
		case faultRestart:
			if !slices.Contains(crashed, p.Node) {
				return fmt.Errorf("phase %d: restarts %s, which is not crashed", i, p.Node)
			}
			crashed = slices.DeleteFunc(crashed, func(n string) bool { return n == p.Node })
		case faultPause:
			if !isAlive {
				return fmt.Errorf("phase %d: pauses %s, which is not an alive node", i, p.Node)
			}
			if p.Pause < minPause || p.Pause > maxPause || p.Pause > p.Length-minPause {
				return fmt.Errorf("phase %d: pause of %v; want %v to %v, and %v left of the phase", i, p.Pause, minPause, maxPause, minPause)
			}
		case faultJump:
			if j := max(p.Jump, -p.Jump); !isAlive || j < minJump || j > maxJump {
				return fmt.Errorf("phase %d: %v; want an alive node and a step of %v to %v", i, p, minJump, maxJump)
			}
		case faultLoss:
			if p.Loss < minLoss || p.Loss > maxLoss {
				return fmt.Errorf("phase %d: loss %v is outside [%v, %v]", i, p.Loss, minLoss, maxLoss)
			}
		case faultLeave:
			if !isAlive || len(alive) <= minNodes || len(crashed) > maxDown(len(alive)+len(crashed)-1) {
				return fmt.Errorf("phase %d: %s leaves of %v alive and %v crashed", i, p.Node, alive, crashed)
			}
			left = append(left, p.Node)
		case faultJoin:
			if want := fmt.Sprintf("n%d", len(names)+1); p.Node != want {
				return fmt.Errorf("phase %d: joins %s, want %s", i, p.Node, want)
			}
			names = append(names, p.Node)
		}
	}
	if at != d {
		return fmt.Errorf("phases fill %v, want %v", at, d)
	}
	return nil
}

// checkSides reports whether the sides and the bridge (if not "") hold
// every alive node once, each side sorted.
func checkSides(alive []string, bridge string, sides ...[]string) error {
	var all []string
	if bridge != "" {
		all = append(all, bridge)
	}
	for _, side := range sides {
		if len(side) == 0 || !slices.IsSortedFunc(side, compareNames) {
			return fmt.Errorf("side %v is empty or not sorted", side)
		}
		all = append(all, side...)
	}
	if !slices.Equal(sorted(all), alive) {
		return fmt.Errorf("sides %v and bridge %q do not hold each of the alive %v once", sides, bridge, alive)
	}
	return nil
}

// missingFault returns a fault of sc (a family, if it is grouped) that s
// never makes.
func missingFault(s []phase, sc scenario) (fault, bool) {
	key := func(f fault) fault { return f }
	if sc.Grouped {
		key = fault.family
	}
	for _, f := range sc.Faults {
		if !slices.ContainsFunc(s, func(p phase) bool {
			return key(p.Fault) == key(f) || p.RollOf > 0 && f == faultRollout || p.Steps > 0 && f == faultScale
		}) {
			return f, true
		}
	}
	return "", false
}

// checkAims checks the rotation of the targets: crashes at the election
// leader and the reference in either order, then the voters' leader, a
// lock holder, a coordinator, another voter and the node drawn; pauses at
// a lock holder, the election leader and the voters' leader; jumps at
// the reference and the node drawn; isolations at the election leader
// and the voters' leader in turn, either first.
func checkAims(s []phase) error {
	var crashes, isolations []target
	turns := map[fault][]target{faultPause: {targetHolder, targetLeader, targetVoterLeader}, faultJump: {targetReference, targetNode}}
	made := map[fault]int{}
	for _, p := range s {
		if p.RollOf > 0 && p.Target != targetNode {
			return fmt.Errorf("%v, a step of a rollout, aims at the %v", p, p.Target)
		}
		if p.RollOf > 0 {
			continue
		}
		switch p.Fault {
		case faultCrash:
			crashes = append(crashes, p.Target)
			continue
		case faultIsolate:
			isolations = append(isolations, p.Target)
			continue
		}
		turn, ok := turns[p.Fault]
		if !ok {
			turn = []target{targetNode}
		}
		if want := turn[made[p.Fault]%len(turn)]; p.Target != want {
			return fmt.Errorf("%v aims at the %v, want the %v", p, p.Target, want)
		}
		made[p.Fault]++
	}
	firstTwo := []target{targetLeader, targetReference}
	if len(crashes) >= 2 && (crashes[0] == crashes[1] || !slices.Contains(firstTwo, crashes[0]) || !slices.Contains(firstTwo, crashes[1])) {
		return fmt.Errorf("the first two crashes aim at %v; want the leader and the reference", crashes[:2])
	}
	for i, a := range crashes {
		want := []target{crashes[0], crashes[1%len(crashes)], targetVoterLeader, targetHolder, targetCoordinator, targetVoter, targetNode}[i%7]
		if i >= 2 && a != want {
			return fmt.Errorf("crash %d aims at the %v, want the %v (aims %v)", i, a, want, crashes)
		}
	}
	for i, a := range isolations {
		if a != targetLeader && a != targetVoterLeader || i > 0 && a == isolations[i-1] {
			return fmt.Errorf("isolation %d aims at the %v; want the leader and the voters' leader in turn (aims %v)", i, a, isolations)
		}
	}
	return nil
}

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5 * ms}, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 8 * ms}, 3 * ms},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
