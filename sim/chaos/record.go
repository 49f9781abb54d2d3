package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/simnet"
)

// phaseResult is what happened in one phase.
type phaseResult struct {
	phase
	At          time.Duration // when the fault was made, from the start of the schedule
	Converged   bool          // every alive node saw what it should before the phase ended
	Took        time.Duration // from the fault to convergence
	Detected    bool          // crash: every alive node dropped the crashed one
	DetectTook  time.Duration // crash: from the crash to Detected
	Err         error         // a restart that failed
	Interrupted bool          // the run was stopped during the phase

	// What the phase's node was when the fault was made.
	Leader      bool // it held the election lease
	Reference   bool // it was the clock reference
	Holder      bool // it held a lock
	Coordinator bool // it coordinated a lock id
	VoterLeader bool // it was the voters' Raft leader
	Voter       bool // it was a voter, not their leader
	NoTarget    bool // the schedule aimed at a role, but no alive node had it

	// Crash and isolation phases and the election.
	CrashedAt   time.Time
	LeaderCrash bool          // crash: the node held the leader's lease
	LeaderCut   bool          // isolate: the node held the leader's lease
	FailedOver  bool          // after LeaderCrash or LeaderCut, a new lease started before the phase ended
	Failover    time.Duration // from the fault to the new lease
	NewLeader   string        // the node that holds it

	// Crash phases and the clock.
	RefCrash bool          // the node was the clock reference when it crashed
	RefTerm  uint64        // its reference term then
	Resynced bool          // after RefCrash, every alive node read on a new reference before the phase ended
	Resync   time.Duration // from the crash to Resynced
	NewRef   string        // the new reference
	NewTerm  uint64        // its term
}

// what describes the phase as it was made, with the roles its node had:
// "crash n5 (leader, reference)", "crash n4 (voters' leader)".
func (r phaseResult) what() string {
	s := r.phase.String()
	if r.NoTarget {
		return s + " (no " + r.Target.String() + ")"
	}
	var roles []string
	for _, role := range []struct {
		has  bool
		name string
	}{{r.Leader, "leader"}, {r.Reference, "reference"}, {r.VoterLeader, "voters' leader"}, {r.Voter, "voter"},
		{r.Holder, "lock holder"}, {r.Coordinator, "coordinator"}} {
		if role.has {
			roles = append(roles, role.name)
		}
	}
	if len(roles) > 0 {
		s += " (" + strings.Join(roles, ", ") + ")"
	}
	return s
}

// widest returns the longest description p may get once made.
func widest(p phase) int {
	if p.Node == "" || p.Fault == faultJoin || p.Fault == faultRestart {
		return len(phaseResult{phase: p}.what())
	}
	return len(phaseResult{phase: p, Leader: true, Reference: true}.what()) // rarer, longer lists overflow
}

// record is what a run recorded: its phases as made, the workloads'
// records and the checkers' verdicts. summarize turns it into the Report;
// the timeline page draws from it too.
type record struct {
	Config          simConfig
	Phases          []phaseResult
	Detected        int  // failures declared about crashed or cut-off members
	FalseSuspicions int  // failures declared about reachable, alive members
	Interrupted     bool // the run was stopped before the schedule ended
	FinalConverged  bool // the cluster re-converged after the final heal
	FinalTook       time.Duration
	Election        electionRecord
	Clock           clockRecord
	Locks           lockRecord
	V2              v2Record // the idle ids' and group's tokens and terms
	Tasks           taskRecord
	Events          eventRecord
	Groups          groupRecord
	User            []Property // the verdicts of the user's workloads
	UserSpans       []Span     // their rows in the timeline (Timeliner)
	Net             simnet.NetStats
	Voters          voterRecord // the voter configuration over time
	Wall            time.Duration
	Stalls          stallStats // how late the machine ran the simulation's timers
	Timeline        timeline   // for the page
}

// leaderCrashes returns when the crashes of the leader happened.
func (r *record) leaderCrashes() []time.Time {
	var out []time.Time
	for _, p := range r.Phases {
		if p.LeaderCrash {
			out = append(out, p.CrashedAt)
		}
	}
	return out
}

// phaseLine formats the progress line of a phase described by what;
// width aligns the outcomes.
func phaseLine(r phaseResult, what string, width int) string {
	line := fmt.Sprintf("[%6.1fs] %-*s  ", r.At.Seconds(), width, what)
	switch {
	case r.Fault == faultBridge:
		line += "views not judged (the bridge relays across the cut)"
	case r.Converged:
		line += "converged in " + fmtDur(r.Took)
	case r.Interrupted:
		line += "interrupted"
	default:
		line += "NOT converged after " + fmtDur(r.Took)
	}
	if r.Fault == faultCrash && r.Detected {
		line += ", failure seen by all in " + fmtDur(r.DetectTook)
	}
	switch {
	case r.FailedOver:
		line += fmt.Sprintf(", new leader %s in %s", r.NewLeader, fmtDur(r.Failover))
	case r.LeaderCrash:
		line += ", no new leader yet"
	}
	switch {
	case r.Resynced:
		line += fmt.Sprintf(", clocks on %s in %s", r.NewRef, fmtDur(r.Resync))
	case r.RefCrash:
		line += ", clocks not re-synced yet"
	}
	if r.Err != nil {
		line += fmt.Sprintf(" (error: %v)", r.Err)
	}
	return line
}

// faultRow is how often one kind of phase was made and how long the
// phases that converged took.
type faultRow struct {
	fault fault
	count int
	took  []time.Duration
}

// faultRows returns a row per kind of phase made, in allFaults order.
func (r *record) faultRows() []faultRow {
	var out []faultRow
	for _, f := range allFaults {
		row := faultRow{fault: f}
		for _, p := range r.Phases {
			if p.Fault == f {
				row.count++
				if p.Converged {
					row.took = append(row.took, p.Took)
				}
			}
		}
		if row.count > 0 {
			out = append(out, row)
		}
	}
	return out
}

// detections returns how long each crash took to be seen by all (for
// those that were) and how many crashes there were.
func (r *record) detections() (times []time.Duration, crashes int) {
	for _, p := range r.Phases {
		if p.Fault == faultCrash {
			crashes++
			if p.Detected {
				times = append(times, p.DetectTook)
			}
		}
	}
	return times, crashes
}

// median returns the middle of ds (the mean of the two middles for an
// even count); ds must not be empty.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtMedian(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmtDur(median(ds))
}

func fmtMax(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmtDur(slices.Max(ds))
}

// fmtDur rounds d for people: 612ms, 1.23s, 42.1s.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
