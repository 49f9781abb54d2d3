package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// The election workload: every alive node campaigns in one group for the
// whole run, and the report judges the leases against E1-E4.
const (
	electionGroup   = "sim"
	leaderWait      = 1500 * time.Millisecond // a crash aimed at the leader waits this long for one
	finalLeaderWait = 10 * time.Second        // for a leader after the final heal
)

// firstLeader waits up to startWait for the first leader of the election
// started at t0 and prints it.
func (r *runner) firstLeader(ctx context.Context, t0 time.Time) {
	l, ok := r.waitLeader(ctx, startWait)
	r.shown = leaderLine(l, ok)
	if ok {
		r.out.printf("election in group %q: %s after %s\n", electionGroup, r.shown, fmtDur(l.Start.Sub(t0)))
		return
	}
	r.out.printf("election in group %q: no leader after %s\n", electionGroup, fmtDur(time.Since(t0)))
}

// waitLeader polls every pollEvery for a current leader, up to d or until
// ctx ends.
func (r *runner) waitLeader(ctx context.Context, d time.Duration) (check.LeaseRecord, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if l, ok := r.elect.Current(); ok {
			return l, true
		}
		select {
		case <-ctx.Done():
			return check.LeaseRecord{}, false
		case <-tick.C:
		}
	}
}

// aim returns the phase rest[0] aimed at its Target, if it has one: it
// waits (up to leaderWait, within ctx) for a leader, a clock reference or
// a voters' leader, or picks an alive lock holder, coordinator of a lock
// id or voter other than the voters' leader, and, if the
// schedule planned another node, swaps the two names in rest. noTarget
// reports that there was none to aim at; the phase then hits the node
// the schedule drew.
func (r *runner) aim(ctx context.Context, rest []phase) (p phase, noTarget bool) {
	var node string
	var ok bool
	switch rest[0].Target {
	case targetNode:
		return rest[0], false
	case targetLeader:
		var l check.LeaseRecord
		l, ok = r.waitLeader(ctx, leaderWait)
		node = l.Node
	case targetReference:
		var ref check.Reading
		ref, ok = r.waitReference(ctx, leaderWait)
		node = ref.Node
	case targetHolder:
		node, ok = r.pick(r.locks.Holders())
	case targetCoordinator:
		node, ok = r.pick(r.locks.Coordinators())
	case targetVoterLeader:
		node, ok = r.voters.waitLeader(ctx, leaderWait)
	case targetVoter:
		node, ok = r.pick(r.voters.followers())
	}
	if !ok || r.c.Node(node) == nil {
		return rest[0], true
	}
	if node != rest[0].Node {
		swapNodes(rest, rest[0].Node, node)
	}
	return rest[0], false
}

// pick returns one of the alive nodes among names, drawn by aimRNG.
func (r *runner) pick(names []string) (string, bool) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return r.c.Node(n) == nil })
	if len(names) == 0 {
		return "", false
	}
	return names[r.aimRNG.IntN(len(names))], true
}

// note prints the current leader and clock reference if they changed
// since last printed.
func (r *runner) note() {
	r.showChanges(leaderLine(r.elect.Current()), referenceLine(r.reference()))
}

// showChanges prints, on one line, the leader line and the clock
// reference line that differ from those printed last.
func (r *runner) showChanges(leader, reference string) {
	var changed []string
	if leader != r.shown {
		r.shown = leader
		changed = append(changed, leader)
	}
	if reference != r.shownRef {
		r.shownRef = reference
		changed = append(changed, reference)
	}
	if len(changed) > 0 {
		r.out.printf("[%6.1fs]   %s\n", time.Since(r.start).Seconds(), strings.Join(changed, ", "))
	}
}

func leaderLine(l check.LeaseRecord, ok bool) string {
	if !ok {
		return "no leader"
	}
	return fmt.Sprintf("leader %s term %d", l.Node, l.Term)
}

// heldAt reports whether node held a lease at t.
func heldAt(leases []check.LeaseRecord, node string, t time.Time) bool {
	return slices.ContainsFunc(leases, func(l check.LeaseRecord) bool {
		return l.Node == node && !l.Start.After(t) && (l.End.IsZero() || !l.End.Before(t))
	})
}

// firstLeaseAfter returns the lease that started first after t.
func firstLeaseAfter(leases []check.LeaseRecord, t time.Time) (check.LeaseRecord, bool) {
	var first check.LeaseRecord
	found := false
	for _, l := range leases {
		if l.Start.After(t) && (!found || l.Start.Before(first.Start)) {
			first, found = l, true
		}
	}
	return first, found
}

// electionRecord is what the election workload recorded and its verdict.
type electionRecord struct {
	Leases        []check.LeaseRecord
	Verdict       check.ElectionVerdict
	LeaderCrashes []time.Time        // when a node crashed while it held the lease
	FinalLeader   *check.LeaseRecord // after the final heal; nil = none within finalLeaderWait
	Failures      []string           // errors the workload met (not property violations)
}

func newElectionRecord(leases []check.LeaseRecord, leaderCrashes []time.Time, final *check.LeaseRecord, failures []string, now time.Time) electionRecord {
	return electionRecord{
		Leases:        leases,
		Verdict:       check.CheckElection(leases, now),
		LeaderCrashes: leaderCrashes,
		FinalLeader:   final,
		Failures:      failures,
	}
}

// print writes the election section of the report, aligned by tw.
func (e *ElectionReport) print(tw io.Writer) {
	final := fmt.Sprintf("none within %s of the final heal", fmtDur(finalLeaderWait))
	if e.FinalLeader != nil {
		final = fmt.Sprintf("%s term %d", e.FinalLeader.Node, e.FinalLeader.Term)
	}
	fmt.Fprintf(tw, "election\tgroup %q: %s; final leader %s\n", e.Group, e.leases(), final)
	if len(e.WorkloadErrors) > 0 {
		fmt.Fprintf(tw, "election errors\t%d, the first: %s\n", len(e.WorkloadErrors), e.WorkloadErrors[0])
	}
}

// leases counts the leases and names the leaders.
func (e ElectionReport) leases() string {
	if e.Leases == 0 {
		return "no leases"
	}
	leaders := slices.SortedFunc(slices.Values(e.Leaders), compareNames)
	return fmt.Sprintf("%d leases, %d distinct leaders (%s), terms %d to %d",
		e.Leases, len(leaders), strings.Join(leaders, " "), e.FirstTerm, e.LastTerm)
}

// failover summarizes, over the crashes of the leader, the time from the
// crash to the start of the next lease.
func (e *electionRecord) failover() string {
	if len(e.LeaderCrashes) == 0 {
		return "no leader crashed"
	}
	times := failovers(e.LeaderCrashes, e.Leases)
	return fmt.Sprintf("median %s, max %s (%d of %d leader crashes followed by a new lease)",
		fmtMedian(times), fmtMax(times), len(times), len(e.LeaderCrashes))
}

// failovers returns, for each crash followed by a lease, the time from
// the crash to the start of the first such lease.
func failovers(crashes []time.Time, leases []check.LeaseRecord) []time.Duration {
	var out []time.Duration
	for _, t := range crashes {
		if l, ok := firstLeaseAfter(leases, t); ok {
			out = append(out, l.Start.Sub(t))
		}
	}
	return out
}
