package chaos

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
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

// lockRecord is what the lock workload recorded and its verdict.
type lockRecord struct {
	Unsafe     bool
	Verdict    check.LockVerdict
	Ended      int // grants that ended: released, or the lease was lost, or the holder's node crashed
	Heals      int
	Errors     map[string]int
	FirstOther string
}

func newLockRecord(h check.LockHistory, unsafe bool) lockRecord {
	ended := 0
	for _, g := range h.Grants {
		if !g.End.IsZero() {
			ended++
		}
	}
	return lockRecord{Unsafe: unsafe, Verdict: check.CheckLocks(h), Ended: ended, Heals: len(h.Heals), Errors: h.Errors, FirstOther: h.FirstOther}
}

// print writes the locks section of the report, aligned by tw.
func (l *LockReport) print(tw io.Writer) {
	mode := "quorum mode"
	if l.Mode == "unsafe" {
		mode = "UNSAFE mode (Quorum(false))"
	}
	fmt.Fprintf(tw, "locks\t%d ids, %d clients per node, TTL %s, %s: %d grants, %.1f/s, acquire p50 %s, p99 %s\n",
		l.IDs, l.ClientsPerNode, fmtDur(l.TTL.Std()), mode, l.Grants, l.PerSecond, fmtDur(l.Latency.P50.Std()), fmtDur(l.Latency.P99.Std()))
	if l.Handovers > 0 {
		fmt.Fprintf(tw, "handovers\t%d releases to a waiting Acquire: release to grant p50 %s, p99 %s\n", l.Handovers, fmtFine(l.Handover.P50.Std()), fmtFine(l.Handover.P99.Std()))
	}
	if l.StaleRejected > 0 {
		fmt.Fprintf(tw, "fence\t%d writes of fresh holders rejected\n", l.StaleRejected)
	}
	if len(l.AcquireErrors) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(l.AcquireErrors)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, l.AcquireErrors[k]))
		}
		line := strings.Join(parts, ", ")
		if l.FirstOther != "" {
			line += "; first other: " + l.FirstOther
		}
		fmt.Fprintf(tw, "acquire errors\t%s\n", line)
	}
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
