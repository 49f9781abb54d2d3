package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

// The lock workload: on every node lockClients clients contend on
// lockIDs ids with leases of lockTTL, and the report judges the grants
// against L1-L4 and by porcupine.
const (
	lockIDs     = 3
	lockClients = 2
	lockTTL     = time.Second
	lockWait    = 5 * time.Second
	// finalLockWait is how long the report waits for a grant after the
	// final heal.
	finalLockWait = 10 * time.Second
	pauseStream   = 0x000000007061757365 // "pause"
)

// startLocks starts the lock workload.
func startLocks(c *sim.Cluster, cfg simConfig) (*sim.LockWorkload, error) {
	return sim.StartLocks(c, sim.LockOptions{IDs: lockIDs, Clients: lockClients, TTL: lockTTL, Wait: lockWait, Seed: cfg.Seed, Unsafe: cfg.Unsafe})
}

// aimPause returns the pause p aimed at a lock holder, if an alive node
// holds one now; holder reports whether it did.
func (r *runner) aimPause(p phase) (phase, bool) {
	holders := slices.DeleteFunc(r.locks.Holders(), func(n string) bool { return r.c.Node(n) == nil })
	if len(holders) == 0 {
		return p, false
	}
	p.Node = holders[r.pauseRNG.IntN(len(holders))]
	return p, true
}

// runPause makes pause phase p, waits for the thaw and measures, from the
// thaw, until the cluster has converged again, within ctx.
func (r *runner) runPause(ctx context.Context, p phase, res *phaseResult) {
	t0 := time.Now()
	p.apply(ctx, r.c)
	// The node is cut off from everyone: the watcher counts its failure
	// as detected. Its thaw is a recovery, like a heal.
	sleepUntil(ctx, t0.Add(p.Pause-50*time.Millisecond))
	r.watch.recovering()
	sleepUntil(ctx, t0.Add(p.Pause+time.Millisecond))
	r.measure(ctx, time.Now(), "", res)
	r.watch.settled()
}

// lockReport is what the lock workload recorded and its verdict.
type lockReport struct {
	Unsafe     bool
	Verdict    sim.LockVerdict
	Heals      int
	Errors     map[string]int
	FirstOther string
}

func newLockReport(h sim.LockHistory, unsafe bool) lockReport {
	return lockReport{Unsafe: unsafe, Verdict: sim.CheckLocks(h), Heals: len(h.Heals), Errors: h.Errors, FirstOther: h.FirstOther}
}

// lockProperty is one of L1-L3 with its violations.
type lockProperty struct {
	id, label, meaning string
	v                  sim.Violations
}

func (l *lockReport) checked() []lockProperty {
	return []lockProperty{
		{"L1", "unique tokens", "no two grants of an id carry one token", l.Verdict.L1},
		{"L2", "tokens increase", "tokens strictly increase in grant order", l.Verdict.L2},
		{"L3", "holds disjoint", "no two holds of an id overlap in time", l.Verdict.L3},
	}
}

// problems returns a line for each broken property, a porcupine failure
// and stale writes the Fence accepted.
func (l *lockReport) problems() []string {
	var out []string
	for _, p := range l.checked() {
		if p.v.N > 0 {
			out = append(out, fmt.Sprintf("lock property %s (%s) %s", p.id, p.meaning, lockVerdict(p.v)))
		}
	}
	if l.Verdict.NotLinearizable {
		out = append(out, "lock history: porcupine: "+l.Verdict.Porcupine)
	}
	if n := l.Verdict.Late.Accepted; n > 0 {
		out = append(out, fmt.Sprintf("lock fencing: the Fence accepted %d late writes of paused holders after a newer grant", n))
	}
	return out
}

// lockVerdict is "held", or "BROKEN: " and the first violation.
func lockVerdict(v sim.Violations) string {
	switch {
	case v.N == 0:
		return "held"
	case v.N == 1:
		return "BROKEN: " + v.First[0]
	}
	return fmt.Sprintf("BROKEN: %s (and %d more)", v.First[0], v.N-1)
}

// print writes the locks section of the report, aligned by tw.
func (l *lockReport) print(tw io.Writer) {
	v := l.Verdict
	mode := "quorum mode"
	if l.Unsafe {
		mode = "UNSAFE mode (Quorum(false))"
	}
	fmt.Fprintf(tw, "locks\t%d ids, %d clients per node, TTL %s, %s: %d grants, %.1f/s\n", lockIDs, lockClients, fmtDur(lockTTL), mode, v.Grants, v.PerSecond)
	fmt.Fprintf(tw, "acquire latency\tp50 %s, p99 %s\n", fmtDur(v.P50), fmtDur(v.P99))
	for _, p := range l.checked() {
		fmt.Fprintf(tw, "%s %s\t%s\n", p.id, p.label, lockVerdict(p.v))
	}
	if v.Paused.N > 0 {
		fmt.Fprintf(tw, "paused overlaps\t%d (a paused holder's hold overlaps a later grant; not counted by L3): %s\n", v.Paused.N, v.Paused.First[0])
	}
	fmt.Fprintf(tw, "L4 grant after heal\t%s\n", l.afterHeal())
	fmt.Fprintf(tw, "fence\tlate writes of paused holders: %d rejected, %d ACCEPTED after a newer grant, %d harmless (no newer grant); %d fresh holders' writes rejected\n",
		v.Late.Rejected, v.Late.Accepted, v.Late.Harmless, v.Stale)
	fmt.Fprintf(tw, "porcupine\t%s\n", v.Porcupine)
	if len(l.Errors) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(l.Errors)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, l.Errors[k]))
		}
		line := strings.Join(parts, ", ")
		if l.FirstOther != "" {
			line += "; first other: " + l.FirstOther
		}
		fmt.Fprintf(tw, "acquire errors\t%s\n", line)
	}
}

// afterHeal summarizes, over the heals, the time to the first grant.
func (l *lockReport) afterHeal() string {
	if len(l.Verdict.L4) == 0 {
		return "no heals"
	}
	var times []time.Duration
	for _, h := range l.Verdict.L4 {
		if h.Granted {
			times = append(times, h.Took)
		}
	}
	return fmt.Sprintf("median %s, max %s (%d of %d heals followed by a grant)", fmtMedian(times), fmtMax(times), len(times), len(l.Verdict.L4))
}

// waitGrantAfter waits, up to d or until ctx ends, for a lock grant that
// started after t, so that L4 covers the final heal too.
func (r *runner) waitGrantAfter(ctx context.Context, t time.Time, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, g := range r.locks.History().Grants {
			if g.Start.After(t) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
