package chaos

import (
	"context"
	"math/rand/v2"
	"time"
)

// An outage stops every node at once (a power loss, or a redeploy of
// everything at once) and restarts them all after a while: faultOutage
// crashes every alive node together, faultRestartAll starts them again
// one after the other, each joining those already up. The outage
// scenario's schedule is outages and restarts in turn (outagePhases),
// with every node keeping a DataDir (scenario.Disk): the voters go on
// from their directories, so the locks' tokens and the event log
// survive. In memory (no DataDir) an outage loses the voters' state, the
// documented limit of that mode, which the scenario does not run.
const (
	faultOutage     fault = "outage"
	faultRestartAll fault = "restart-all"
)

// Timing of the outage scenario: every node stays down minOutage to
// maxOutage, and the cluster runs outageRun after the restart before the
// next outage.
const (
	minOutage = time.Second
	maxOutage = 2 * time.Second
	outageRun = 6 * time.Second
)

// outageOnly reports whether sc is the outage scenario.
func outageOnly(sc scenario) bool {
	return !sc.Grouped && len(sc.Faults) == 1 && sc.Faults[0] == faultOutage
}

// outagePhases returns the outage scenario's schedule for duration (at
// least minPhase): an outage and a restart of every node, in turn, as
// many as fit (at least one); the last restart lasts what is left.
func outagePhases(rng *rand.Rand, duration time.Duration) []phase {
	var out []phase
	var at time.Duration
	for len(out) == 0 || at+maxOutage+outageRun <= duration {
		down := (minOutage + time.Duration(rng.Int64N(int64(maxOutage-minOutage)+1))).Truncate(100 * time.Millisecond)
		out = append(out,
			phase{Fault: faultOutage, Start: at, Length: down},
			phase{Fault: faultRestartAll, Start: at + down, Length: outageRun})
		at += down + outageRun
	}
	out[len(out)-1].Length += duration - at // less, when one outage does not fit
	return out
}

// runOutage makes an outage or the restart after it: the crash of every
// alive node, or the restart of every node the last outage crashed.
func (r *runner) runOutage(ctx context.Context, p phase, res *phaseResult) {
	if p.Fault == faultOutage {
		r.down = r.c.CrashAll()
		return
	}
	nodes, err := r.c.RestartAll(ctx, r.down)
	for _, n := range nodes {
		r.watch.watch(n)
	}
	r.down = nil
	res.Err = err
}

// restartsAll reports whether p starts nodes again after an outage.
func restartsAll(p phase) bool { return p.Fault == faultRestartAll }
