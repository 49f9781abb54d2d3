package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// faultScale grows the cluster and shrinks it back: new nodes join one at
// a time up to scalePeak nodes, then alive nodes drawn at random (voters
// and the voters' leader among them) leave gracefully one at a time until
// the cluster has its starting size again. The schedule expands it into
// join and leave phases (see scalePhases), so no phase of a schedule has
// it as its Fault.
const faultScale fault = "scale"

// scaleStep is the length of one step of a scale, a join or a leave: long
// enough for the cluster to converge on 30 nodes, short enough that
// 3 -> 30 -> 3 (54 steps) fits in the default -duration of 30 s.
const scaleStep = 500 * time.Millisecond

// scaleStepWait is how long a step of a scale may take, its join or
// leave and the convergence after it, when that is longer than the step.
// A join cut short by its deadline leaves a node outside the cluster
// until gossip brings it in, and a leave cut short would skip the
// voters' handover. The schedule then runs late; each phase line says
// when its step was made.
const scaleStepWait = minPhase

// deadline is when the runner stops waiting for phase p, made at now, to
// take effect; start is the start of the schedule.
func (p phase) deadline(start, now time.Time) time.Time {
	end := start.Add(p.Start + p.Length)
	if p.Steps > 0 && end.Before(now.Add(scaleStepWait)) {
		return now.Add(scaleStepWait)
	}
	return end
}

// scalePeak is the number of nodes a scale of n nodes grows to.
func scalePeak(n int) int { return max(30, n+n/2) }

// scaleSpan is how long a whole scale of n nodes takes, up and down.
func scaleSpan(n int) time.Duration { return time.Duration(2*(scalePeak(n)-n)) * scaleStep }

// scaleOnly reports whether sc is the scale scenario: its whole schedule
// is one scale.
func scaleOnly(sc scenario) bool {
	return !sc.Grouped && len(sc.Faults) == 1 && sc.Faults[0] == faultScale
}

// scalePhases returns the phases of a scale of the nodes names, all
// alive, that fills budget: as many joins as leaves, scaleStep each, up
// to scalePeak nodes and back, or, when budget is shorter than their
// scaleSpan, half of the steps that fit in budget up and half down (at
// least one each). The joins name the new nodes as sim.Cluster.Add does;
// each leave draws from rng one of the nodes alive then. The last step
// lasts what is left of budget. Each phase is numbered (Step of Steps)
// so that the schedule prints the progress.
func scalePhases(rng *rand.Rand, names []string, budget time.Duration) []phase {
	n := len(names)
	up := min(scalePeak(n)-n, max(1, int(budget/scaleStep)/2))
	alive := slices.Clone(names)
	var out []phase
	var at time.Duration
	step := func(f fault, node string) {
		out = append(out, phase{Fault: f, Node: node, Start: at, Length: scaleStep, Step: len(out) + 1, Steps: 2 * up})
		at += scaleStep
	}
	for i := range up {
		node := fmt.Sprintf("n%d", n+i+1) // as sim.Cluster.Add names it
		alive = append(alive, node)
		step(faultJoin, node)
	}
	for range up {
		i := rng.IntN(len(alive))
		node := alive[i]
		alive = slices.Delete(alive, i, i+1)
		step(faultLeave, node)
	}
	out[len(out)-1].Length += budget - at
	return out
}

// stepSuffix is what phase p's description adds when p is a step of a
// rollout or of a scale: " (rollout 2/5)", " (scale 4/54)".
func (p phase) stepSuffix() string {
	switch {
	case p.RollOf > 0:
		return fmt.Sprintf(" (rollout %d/%d)", p.Roll, p.RollOf)
	case p.Steps > 0:
		return fmt.Sprintf(" (scale %d/%d)", p.Step, p.Steps)
	}
	return ""
}
