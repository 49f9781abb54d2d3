package chaos

import (
	"math/rand/v2"
	"time"
)

// faultRollout is a rolling redeploy: the alive nodes crash and restart
// one at a time, each under its own name, in a seeded random order. The
// schedule expands it into crash and restart phases (see rolloutPhases),
// so no phase of a schedule has it as its Fault.
const faultRollout fault = "rollout"

// Timing of a rollout: a node is restarted restartAfter (drawn from
// minRestartAfter to maxRestartAfter) after its crash, and the next node
// crashes rejoinWait after the restart, once the runner has measured the
// cluster converge again with it (up to rejoinWait).
const (
	minRestartAfter = 500 * time.Millisecond
	maxRestartAfter = 1500 * time.Millisecond
	rejoinWait      = 1500 * time.Millisecond
)

// rolloutSpan is the longest a rollout of n nodes takes.
func rolloutSpan(n int) time.Duration { return time.Duration(n) * (maxRestartAfter + rejoinWait) }

// rolloutOnly reports whether sc is the rollout scenario: its whole
// schedule is one rollout.
func rolloutOnly(sc scenario) bool {
	return !sc.Grouped && len(sc.Faults) == 1 && sc.Faults[0] == faultRollout
}

// rolloutPhases returns the phases of a rollout of the nodes alive that
// starts at at and lasts budget: for each node, in an order drawn from
// rng, a crash and a restart, as many nodes as budget allows (at least
// one). The last restart lasts what is left of budget. Each phase is
// numbered (Roll of RollOf, RollOf being every alive node) so that the
// schedule prints the order; the crashes aim at no role.
func rolloutPhases(rng *rand.Rand, alive []string, at, budget time.Duration) []phase {
	order := sorted(alive)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var out []phase
	end := at + budget
	for i, node := range order {
		after := (minRestartAfter + time.Duration(rng.Int64N(int64(maxRestartAfter-minRestartAfter)+1))).Truncate(100 * time.Millisecond)
		if i > 0 && at+after+rejoinWait > end {
			break
		}
		step := phase{Node: node, Roll: i + 1, RollOf: len(order)}
		crash, restart := step, step
		crash.Fault, crash.Start, crash.Length = faultCrash, at, after
		restart.Fault, restart.Start, restart.Length = faultRestart, at+after, rejoinWait
		out = append(out, crash, restart)
		at += after + rejoinWait
	}
	out[len(out)-1].Length += end - at
	return out
}
