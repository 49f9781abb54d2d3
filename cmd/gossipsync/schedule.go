package main

import (
	"cmp"
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

// fault is what a phase of the schedule does to the simulated network.
type fault string

// The faults. -faults chooses among partition, crash, loss and pause;
// heal and restart are the recoveries that follow a partition and a
// crash.
const (
	faultPartition fault = "partition" // split the nodes into a majority and a minority
	faultHeal      fault = "heal"      // end the partition
	faultCrash     fault = "crash"     // stop an alive node (often the leader or the clock reference) without leaving
	faultRestart   fault = "restart"   // start a crashed node again
	faultLoss      fault = "loss"      // lose and delay packets for the phase
	faultPause     fault = "pause"     // freeze a node (often a lock holder) for minPause to maxPause
)

// userFaults are the faults -faults accepts, in the order reports list them.
var userFaults = []fault{faultPartition, faultCrash, faultLoss, faultPause}

// allFaults are every kind of phase, in the order reports list them.
var allFaults = []fault{faultPartition, faultHeal, faultCrash, faultRestart, faultLoss, faultPause}

// Schedule parameters.
const (
	minPhase     = 3 * time.Second // long enough to see convergence
	maxPhase     = 5 * time.Second
	minLoss      = 0.10
	maxLoss      = 0.30
	lossMinDelay = 1 * time.Millisecond
	lossMaxDelay = 10 * time.Millisecond
	minPause     = 1500 * time.Millisecond // longer than the lock TTL
	maxPause     = 3 * time.Second         // shorter than minPhase
)

// Streams of the generator seeded by -seed, one per use, so that a new
// random draw in one use does not change the others.
const (
	scheduleStream = 0x7363686564756c65 // "schedule"
	keyStream      = 0x0000000000006b65 // "ke"
	aimStream      = 0x000000006c656164 // "lead"
	clockStream    = 0x000000636c6f636b // "clock"
)

// target is whom a crash aims at.
type target int

const (
	targetNode      target = iota // the node the schedule drew
	targetLeader                  // the election leader when the crash is made
	targetReference               // the clock reference when the crash is made
)

// phase is one step of the schedule: a fault made at Start, held for Length.
type phase struct {
	Fault         fault
	Start, Length time.Duration // from the start of the schedule
	Majority      []string      // partition: the larger side
	Minority      []string      // partition: the smaller side
	Node          string        // crash, restart, pause: the node
	Pause         time.Duration // pause: how long the node is frozen
	Target        target        // crash: whom to crash instead of Node, if there is one
	Loss          float64       // loss: packet loss probability
}

func (p phase) String() string {
	switch p.Fault {
	case faultPartition:
		return fmt.Sprintf("partition {%s} | {%s}", strings.Join(p.Majority, " "), strings.Join(p.Minority, " "))
	case faultCrash, faultRestart:
		return fmt.Sprintf("%s %s", p.Fault, p.Node)
	case faultPause:
		return fmt.Sprintf("pause %s for %s", p.Node, fmtDur(p.Pause))
	case faultLoss:
		return fmt.Sprintf("loss %.0f%%, delay %d-%dms", p.Loss*100, lossMinDelay.Milliseconds(), lossMaxDelay.Milliseconds())
	}
	return string(p.Fault)
}

// buildSchedule returns the phases that fill duration (at least minPhase),
// drawn from seed: the same arguments always give the same schedule. A
// partition (of the alive nodes, when there are at least 3) is always
// followed by a heal, and a crash by a later restart unless the schedule
// ends first; fewer than half the nodes (but at least one) are down at
// once. Each fault is made once before any is made again, so a schedule
// of 30 s shows them all. The crashes aim in turn at the election leader,
// the clock reference and the node drawn, the first at the leader or the
// reference as the seed says (see aimCrashes); the runner resolves the
// leader or reference when it makes the crash (see swapNodes).
func buildSchedule(seed int64, duration time.Duration, names []string, faults []fault) []phase {
	rng := rand.New(rand.NewPCG(uint64(seed), scheduleStream))
	st := &scheduleState{names: names, faults: faults, maxCrashed: max(1, (len(names)-1)/2)}
	var out []phase
	var at time.Duration
	for _, length := range phaseLengths(rng, duration) {
		p := st.next(rng)
		p.Start, p.Length = at, length
		if p.Fault == faultPause {
			p.Pause = min(p.Pause, length-minPause) // leave time to converge after the thaw
		}
		out = append(out, p)
		at += length
	}
	aimCrashes(rand.New(rand.NewPCG(uint64(seed), aimStream)), out)
	return out
}

// aimCrashes sets the Target of each crash: in turn the leader, the
// reference and the node drawn, starting with the leader or the reference
// by a coin flip from rng. So the first crash is always aimed, by the
// second both kinds are, and two crashes in three are aimed.
func aimCrashes(rng *rand.Rand, phases []phase) {
	turn := []target{targetLeader, targetReference, targetNode}
	if rng.IntN(2) == 0 {
		turn[0], turn[1] = turn[1], turn[0]
	}
	crashes := 0
	for i := range phases {
		if phases[i].Fault == faultCrash {
			phases[i].Target = turn[crashes%len(turn)]
			crashes++
		}
	}
}

// swapNodes exchanges the names a and b in phases. The schedule treats
// alive nodes alike, so when a and b are both alive and no partition is
// in force before phases[0], the renamed phases keep every rule of the
// schedule: this is how a crash planned for a hits the leader (or the
// clock reference) b instead.
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
		if p.Fault == faultPartition {
			p.Majority, p.Minority = rename(p.Majority), rename(p.Minority)
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
	names       []string
	faults      []fault
	maxCrashed  int
	partitioned bool
	crashed     []string
	used        []fault // every fault made so far
}

// next draws the next phase and updates the state.
func (s *scheduleState) next(rng *rand.Rand) phase {
	if s.partitioned {
		s.partitioned = false
		return phase{Fault: faultHeal}
	}
	choices := s.choices()
	f := choices[rng.IntN(len(choices))]
	s.used = append(s.used, f)
	switch f {
	case faultPartition:
		s.partitioned = true
		return s.partition(rng)
	case faultCrash:
		alive := s.alive()
		node := alive[rng.IntN(len(alive))]
		s.crashed = append(s.crashed, node)
		return phase{Fault: f, Node: node}
	case faultPause:
		alive := s.alive()
		node := alive[rng.IntN(len(alive))]
		d := minPause + time.Duration(rng.Int64N(int64(maxPause-minPause)+1))
		return phase{Fault: f, Node: node, Pause: d.Truncate(100 * time.Millisecond)}
	case faultRestart:
		i := rng.IntN(len(s.crashed))
		node := s.crashed[i]
		s.crashed = slices.Delete(s.crashed, i, i+1)
		return phase{Fault: f, Node: node}
	default:
		loss := minLoss + rng.Float64()*(maxLoss-minLoss)
		return phase{Fault: faultLoss, Loss: math.Round(loss*100) / 100}
	}
}

// choices lists the faults the next phase may make. Faults not made yet
// come first, so that a schedule of a few phases shows each of them; if
// the only ones left need a crashed node back, the next phase restarts it.
func (s *scheduleState) choices() []fault {
	var fresh, old []fault
	blocked := false
	for _, f := range s.faults {
		available := (f != faultCrash || len(s.crashed) < s.maxCrashed) &&
			(f != faultPartition || len(s.alive()) >= 3)
		unused := !slices.Contains(s.used, f)
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
	return out
}

// alive returns the nodes that are not crashed, in order.
func (s *scheduleState) alive() []string {
	return slices.DeleteFunc(slices.Clone(s.names), func(n string) bool { return slices.Contains(s.crashed, n) })
}

// partition draws a random split of the n alive nodes (at least 3) into a
// majority and a minority of 1 to (n-1)/2 nodes. Crashed nodes are on no
// side; the schedule heals before it restarts them.
func (s *scheduleState) partition(rng *rand.Rand) phase {
	shuffled := s.alive()
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	k := 1 + rng.IntN((len(shuffled)-1)/2)
	minority, majority := shuffled[:k], shuffled[k:]
	slices.SortFunc(minority, compareNames)
	slices.SortFunc(majority, compareNames)
	return phase{Fault: faultPartition, Majority: majority, Minority: minority}
}

// compareNames orders "n2" before "n10".
func compareNames(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// apply makes p's fault happen on c. It returns the node a restart started.
func (p phase) apply(ctx context.Context, c *sim.Cluster) (*cluster.Node, error) {
	switch p.Fault {
	case faultPartition:
		c.Partition(p.Majority, p.Minority)
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
	}
	return nil, nil
}

// clearLoss ends a loss phase.
func clearLoss(c *sim.Cluster) {
	c.SetLoss(0)
	c.SetDelay(0, 0)
}

// parseFaults parses the -faults list, such as "partition,loss".
func parseFaults(s string) ([]fault, error) {
	var out []fault
	for _, word := range strings.Split(s, ",") {
		f := fault(strings.TrimSpace(word))
		if !slices.Contains(userFaults, f) {
			return nil, fmt.Errorf("unknown fault %q in -faults (want some of partition, crash, loss, pause)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// faultList formats faults as -faults takes them.
func faultList(faults []fault) string {
	words := make([]string, len(faults))
	for i, f := range faults {
		words[i] = string(f)
	}
	return strings.Join(words, ",")
}
