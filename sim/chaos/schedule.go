package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
)

// fault is what a phase of the schedule does to the simulated cluster.
type fault string

// The faults a scenario draws from, and heal and restart, the recoveries
// that follow a cut of the network and a crash.
const (
	faultPartition fault = "partition" // split the alive nodes into a majority and a minority
	faultSplit     fault = "split"     // split them so that no side has a majority
	faultBridge    fault = "bridge"    // cut two sides apart but for one node that reaches both
	faultIsolate   fault = "isolate"   // cut one node (the election leader or the voters' leader) off from all others
	faultHeal      fault = "heal"      // end the cut
	faultCrash     fault = "crash"     // stop an alive node without leaving (aimed at a leader, reference, voter, lock holder or coordinator)
	faultRestart   fault = "restart"   // start a crashed node again
	faultPause     fault = "pause"     // freeze a node (a lock holder, the leader or the voters' leader) for minPause to maxPause
	faultJump      fault = "jump"      // step a node's physical clock (often the clock reference's)
	faultLoss      fault = "loss"      // lose and delay packets for the phase
	faultLeave     fault = "leave"     // an alive node leaves gracefully
	faultJoin      fault = "join"      // a new node joins
)

// allFaults are every kind of phase, in the order reports list them.
var allFaults = []fault{faultPartition, faultSplit, faultBridge, faultIsolate, faultHeal, faultCrash, faultRestart,
	faultPause, faultJump, faultLoss, faultLeave, faultJoin, faultOutage, faultRestartAll}

// cuts reports whether f partitions the network; a heal follows it.
func (f fault) cuts() bool {
	switch f {
	case faultPartition, faultSplit, faultBridge, faultIsolate:
		return true
	}
	return false
}

// family is the group of f that the schedule of a grouped scenario (all)
// shows once before it repeats any: every cut is a partition, leave and
// join are churn.
func (f fault) family() fault {
	switch {
	case f.cuts():
		return faultPartition
	case f == faultJoin:
		return faultLeave
	}
	return f
}

// Schedule parameters.
const (
	minPhase     = 3 * time.Second // long enough to see convergence
	maxPhase     = 5 * time.Second
	minLoss      = 0.10
	maxLoss      = 0.30
	lossMinDelay = 1 * time.Millisecond
	lossMaxDelay = 10 * time.Millisecond
	minPause     = 1500 * time.Millisecond // longer than the lock TTL and the election lease
	maxPause     = 3 * time.Second         // shorter than minPhase
	minJump      = 500 * time.Millisecond  // a step of a physical clock, either way
	maxJump      = 5 * time.Second
	minNodes     = 3 // a leave never takes the cluster below this
)

// Streams of the generator seeded by -seed, one per use, so that a new
// random draw in one use does not change the others.
const (
	scheduleStream = 0x7363686564756c65 // "schedule"
	keyStream      = 0x0000000000006b65 // "ke"
	aimStream      = 0x000000006c656164 // "lead"
	clockStream    = 0x000000636c6f636b // "clock"
)

// target is whom a phase aims at, resolved when the phase is made.
type target int

const (
	targetNode        target = iota // the node the schedule drew
	targetLeader                    // the election leader
	targetReference                 // the clock reference
	targetHolder                    // a lock holder
	targetCoordinator               // the coordinator of a lock id
	targetVoterLeader               // the voters' Raft leader
	targetVoter                     // a voter that is not the voters' leader
)

func (t target) String() string {
	return [...]string{"node", "leader", "reference", "lock holder", "coordinator", "voters' leader", "voter"}[t]
}

// phase is one step of the schedule: a fault made at Start, held for Length.
type phase struct {
	Fault         fault
	Start, Length time.Duration // from the start of the schedule
	Majority      []string      // partition, bridge, isolate: the larger side
	Minority      []string      // partition, bridge, isolate: the smaller side
	Sides         [][]string    // split: every side, none a majority
	Node          string        // crash, restart, pause, jump, leave, join, isolate: the node; bridge: the bridge
	Pause         time.Duration // pause: how long the node is frozen
	Jump          time.Duration // jump: the step of the node's physical clock
	Target        target        // whom to aim at instead of Node, if there is one
	Loss          float64       // loss: packet loss probability
	Roll, RollOf  int           // a step of a rollout: the Roll-th node of RollOf (see rolloutPhases); 0 = none
	Step, Steps   int           // a step of a scale: the Step-th join or leave of Steps (see scalePhases); 0 = none
}

func (p phase) String() string {
	switch p.Fault {
	case faultPartition:
		return fmt.Sprintf("partition %s | %s", nameSet(p.Majority), nameSet(p.Minority))
	case faultSplit:
		sides := make([]string, len(p.Sides))
		for i, s := range p.Sides {
			sides[i] = nameSet(s)
		}
		return "split " + strings.Join(sides, " | ")
	case faultBridge:
		return fmt.Sprintf("bridge %s | %s, %s reaches both", nameSet(p.Majority), nameSet(p.Minority), p.Node)
	case faultCrash, faultRestart, faultIsolate, faultLeave, faultJoin:
		return fmt.Sprintf("%s %s%s", p.Fault, p.Node, p.stepSuffix())
	case faultPause:
		return fmt.Sprintf("pause %s for %s", p.Node, fmtDur(p.Pause))
	case faultJump:
		return fmt.Sprintf("jump %s's clock %s", p.Node, fmtSigned(p.Jump))
	case faultLoss:
		return fmt.Sprintf("loss %.0f%%, delay %d-%dms", p.Loss*100, lossMinDelay.Milliseconds(), lossMaxDelay.Milliseconds())
	case faultOutage:
		return "outage: every node crashes"
	case faultRestartAll:
		return "restart every node"
	}
	return string(p.Fault)
}

// buildSchedule returns the phases of scenario sc that fill duration (at
// least minPhase), drawn from seed: the same arguments always give the
// same schedule. names are the nodes at the start. A cut of the network
// (of the alive nodes, when there are at least 3) is always followed by
// a heal, and a crash by a later restart unless the schedule ends first;
// fewer than half of the quorum basis (the alive and the crashed nodes;
// those that left do not count) are down at once. Leaves and joins, but
// a scale's, keep the alive nodes within one of the starting size, and
// never below minNodes. Each fault of the scenario (each family, for a grouped
// scenario) is made once before any is made again, so a short schedule
// shows them all. A rollout fills its phase with crash and restart phases
// of shorter lengths, one node at a time (see rolloutPhases); the rollout
// scenario's schedule is one rollout that fills duration, and the scale
// scenario's one scale (see scalePhases). Phases aimed at a role (see
// aimPhases) are resolved by the runner when it makes them (see
// swapNodes).
func buildSchedule(seed int64, duration time.Duration, names []string, sc scenario) []phase {
	rng := rand.New(rand.NewPCG(uint64(seed), scheduleStream))
	st := &scheduleState{names: slices.Clone(names), size: len(names), sc: sc}
	if rolloutOnly(sc) {
		return rolloutPhases(rng, names, 0, duration)
	}
	if scaleOnly(sc) {
		return scalePhases(rng, names, duration)
	}
	if outageOnly(sc) {
		return outagePhases(rng, duration)
	}
	var out []phase
	var at time.Duration
	for _, length := range phaseLengths(rng, duration) {
		p := st.next(rng)
		p.Start, p.Length = at, length
		if p.Fault == faultRollout {
			out = append(out, rolloutPhases(rng, st.alive(), at, length)...)
			at += length
			continue
		}
		if p.Fault == faultPause {
			p.Pause = min(p.Pause, length-minPause) // leave time to converge after the thaw
		}
		out = append(out, p)
		at += length
	}
	aimPhases(rand.New(rand.NewPCG(uint64(seed), aimStream)), out)
	return out
}

// aimPhases sets the Target of the phases that aim at a role. Crashes aim
// in turn at the election leader, the clock reference, the voters'
// leader, a lock holder, the coordinator of a lock id, a voter that is
// not the voters' leader and the node drawn, starting with the election
// leader or the reference by a coin flip from rng (the crashes of a
// rollout aim at no role and take no turn); pauses in turn at a lock
// holder, the election leader and the voters' leader; jumps in turn at
// the clock reference and the node drawn; isolations in turn at the
// election leader and the voters' leader, starting with either by a
// second coin flip.
func aimPhases(rng *rand.Rand, phases []phase) {
	crashes := []target{targetLeader, targetReference, targetVoterLeader, targetHolder, targetCoordinator, targetVoter, targetNode}
	if rng.IntN(2) == 0 {
		crashes[0], crashes[1] = crashes[1], crashes[0]
	}
	isolations := []target{targetLeader, targetVoterLeader}
	if rng.IntN(2) == 0 {
		isolations[0], isolations[1] = isolations[1], isolations[0]
	}
	turns := map[fault][]target{
		faultCrash:   crashes,
		faultPause:   {targetHolder, targetLeader, targetVoterLeader},
		faultJump:    {targetReference, targetNode},
		faultIsolate: isolations,
	}
	made := map[fault]int{}
	for i := range phases {
		if turn, ok := turns[phases[i].Fault]; ok && phases[i].RollOf == 0 {
			f := phases[i].Fault
			phases[i].Target = turn[made[f]%len(turn)]
			made[f]++
		}
	}
}

// swapNodes exchanges the names a and b in phases. The schedule treats
// alive nodes alike, so when a and b are both alive and no cut is in
// force before phases[0], the renamed phases keep every rule of the
// schedule: this is how a crash planned for a hits the leader (or the
// clock reference, ...) b instead.
func swapNodes(phases []phase, a, b string) {
	swap := func(n string) string {
		switch n {
		case a:
			return b
		case b:
			return a
		}
		return n
	}
	rename := func(names []string) []string {
		if names == nil {
			return nil
		}
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = swap(n)
		}
		slices.SortFunc(out, compareNames)
		return out
	}
	for i := range phases {
		p := &phases[i]
		p.Node = swap(p.Node)
		p.Majority, p.Minority = rename(p.Majority), rename(p.Minority)
		for j := range p.Sides {
			p.Sides[j] = rename(p.Sides[j])
		}
	}
}

// phaseLengths splits total into lengths from minPhase to maxPhase, in
// steps of 100 ms; the last takes what is left (less than 2*minPhase).
func phaseLengths(rng *rand.Rand, total time.Duration) []time.Duration {
	var out []time.Duration
	for total >= 2*minPhase {
		longest := min(maxPhase, total-minPhase)
		l := minPhase + time.Duration(rng.Int64N(int64(longest-minPhase)+1))
		l = l.Truncate(100 * time.Millisecond)
		out = append(out, l)
		total -= l
	}
	return append(out, total)
}

// scheduleState is what the schedule has done so far.
type scheduleState struct {
	names   []string // every node so far, joined ones too
	size    int      // the number of nodes at the start
	sc      scenario
	cut     bool     // a cut is in force
	crashed []string // down now
	left    []string // left for good
	used    []fault  // every fault made so far
}

// next draws the next phase and updates the state.
func (s *scheduleState) next(rng *rand.Rand) phase {
	if s.cut {
		s.cut = false
		return phase{Fault: faultHeal}
	}
	choices := s.choices()
	f := choices[rng.IntN(len(choices))]
	s.used = append(s.used, f)
	s.cut = f.cuts()
	alive := s.alive()
	switch f {
	case faultPartition:
		return s.partition(rng)
	case faultSplit:
		return s.split(rng)
	case faultBridge:
		return s.bridge(rng)
	case faultIsolate:
		node := alive[rng.IntN(len(alive))]
		rest := slices.DeleteFunc(slices.Clone(alive), func(n string) bool { return n == node })
		return phase{Fault: f, Node: node, Majority: rest, Minority: []string{node}}
	case faultCrash:
		node := alive[rng.IntN(len(alive))]
		s.crashed = append(s.crashed, node)
		return phase{Fault: f, Node: node}
	case faultPause:
		node := alive[rng.IntN(len(alive))]
		d := minPause + time.Duration(rng.Int64N(int64(maxPause-minPause)+1))
		return phase{Fault: f, Node: node, Pause: d.Truncate(100 * time.Millisecond)}
	case faultJump:
		node := alive[rng.IntN(len(alive))]
		d := (minJump + time.Duration(rng.Int64N(int64(maxJump-minJump)+1))).Truncate(100 * time.Millisecond)
		if rng.IntN(2) == 0 {
			d = -d
		}
		return phase{Fault: f, Node: node, Jump: d}
	case faultRestart:
		i := rng.IntN(len(s.crashed))
		node := s.crashed[i]
		s.crashed = slices.Delete(s.crashed, i, i+1)
		return phase{Fault: f, Node: node}
	case faultLeave:
		node := alive[rng.IntN(len(alive))]
		s.left = append(s.left, node)
		return phase{Fault: f, Node: node}
	case faultJoin:
		node := fmt.Sprintf("n%d", len(s.names)+1) // as sim.Cluster.Add names it
		s.names = append(s.names, node)
		return phase{Fault: f, Node: node}
	case faultRollout:
		return phase{Fault: f} // expanded by buildSchedule
	default:
		loss := minLoss + rng.Float64()*(maxLoss-minLoss)
		return phase{Fault: faultLoss, Loss: math.Round(loss*100) / 100}
	}
}

// maxDown is how many of basis nodes may be down at once: fewer than
// half, but at least one.
func maxDown(basis int) int { return max(1, (basis-1)/2) }

// available reports whether f may be made now.
func (s *scheduleState) available(f fault) bool {
	alive := len(s.alive())
	basis := alive + len(s.crashed)
	switch f {
	case faultCrash:
		return len(s.crashed) < maxDown(basis)
	case faultPartition, faultSplit, faultBridge, faultIsolate:
		return alive >= 3
	case faultLeave:
		return alive > minNodes && alive >= s.size && len(s.crashed) <= maxDown(basis-1)
	case faultJoin:
		return alive <= s.size
	case faultRollout:
		return len(s.crashed) == 0
	}
	return true
}

// choices lists the faults the next phase may make. Faults not made yet
// (families, for a grouped scenario) come first, so that a schedule of a
// few phases shows each of them; if the only ones left need a crashed
// node back, the next phase restarts it.
func (s *scheduleState) choices() []fault {
	key := func(f fault) fault { return f }
	if s.sc.Grouped {
		key = fault.family
	}
	var fresh, old []fault
	blocked := false
	for _, f := range s.sc.Faults {
		available := s.available(f)
		unused := !slices.ContainsFunc(s.used, func(u fault) bool { return key(u) == key(f) })
		switch {
		case available && unused:
			fresh = append(fresh, f)
		case available:
			old = append(old, f)
		case unused:
			blocked = true
		}
	}
	out := fresh
	if len(fresh) == 0 && !blocked {
		out = old
	}
	if len(s.crashed) > 0 {
		out = append(out, faultRestart)
	}
	if len(out) == 0 { // only churn, and it cannot go either way: wait
		out = append(out, faultLoss)
	}
	return out
}

// alive returns the nodes that are neither crashed nor left, in order.
func (s *scheduleState) alive() []string {
	return slices.DeleteFunc(slices.Clone(s.names), func(n string) bool {
		return slices.Contains(s.crashed, n) || slices.Contains(s.left, n)
	})
}

// shuffled returns the alive nodes in a random order.
func (s *scheduleState) shuffled(rng *rand.Rand) []string {
	out := s.alive()
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// partition draws a random split of the n alive nodes (at least 3) into a
// majority and a minority of 1 to (n-1)/2 nodes. Crashed nodes are on no
// side; the schedule heals before it restarts them.
func (s *scheduleState) partition(rng *rand.Rand) phase {
	all := s.shuffled(rng)
	k := 1 + rng.IntN((len(all)-1)/2)
	return phase{Fault: faultPartition, Majority: sorted(all[k:]), Minority: sorted(all[:k])}
}

// split draws a split of the alive nodes into sides of which none holds a
// majority: two halves, and a lone node besides when their number is odd.
func (s *scheduleState) split(rng *rand.Rand) phase {
	all := s.shuffled(rng)
	h := len(all) / 2
	sides := [][]string{sorted(all[:h]), sorted(all[h : 2*h])}
	if len(all)%2 == 1 {
		sides = append(sides, all[2*h:])
	}
	return phase{Fault: faultSplit, Sides: sides}
}

// bridge draws a bridge node and a split of the other alive nodes into a
// larger and a smaller side; the bridge reaches both sides.
func (s *scheduleState) bridge(rng *rand.Rand) phase {
	all := s.shuffled(rng)
	node, rest := all[0], all[1:]
	k := 1 + rng.IntN(len(rest)/2)
	return phase{Fault: faultBridge, Node: node, Majority: sorted(rest[k:]), Minority: sorted(rest[:k])}
}

// apply makes p's fault happen on c, for the faults that need nothing of
// the runner (see runner.runPhase for the others). It returns the node a
// restart or join started.
func (p phase) apply(ctx context.Context, c *sim.Cluster) (*cluster.Node, error) {
	switch p.Fault {
	case faultPartition, faultBridge, faultIsolate:
		c.Partition(p.Majority, p.Minority)
	case faultSplit:
		c.Partition(p.Sides...)
	case faultHeal:
		c.Heal()
	case faultCrash:
		c.Crash(p.Node)
	case faultRestart:
		return c.Restart(ctx, p.Node)
	case faultLoss:
		c.SetLoss(p.Loss)
		c.SetDelay(lossMinDelay, lossMaxDelay)
	case faultPause:
		c.Pause(p.Node, p.Pause)
	case faultLeave:
		return nil, c.Leave(ctx, p.Node)
	case faultJoin:
		n, err := c.Add(ctx)
		if err == nil && n.Name() != p.Node {
			err = fmt.Errorf("join: the new node is %s, the schedule expected %s", n.Name(), p.Node)
		}
		return n, err
	}
	return nil, nil
}

// clearLoss ends a loss phase.
func clearLoss(c *sim.Cluster) {
	c.SetLoss(0)
	c.SetDelay(0, 0)
}
