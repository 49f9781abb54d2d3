package chaos

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
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

// Report is the outcome of a run: what was done, what was measured, and
// (Properties, Problems) the verdict of every property.
type Report struct {
	Config          simConfig
	Phases          []phaseResult
	Detected        int  // failures declared about crashed or cut-off members
	FalseSuspicions int  // failures declared about reachable, alive members
	Interrupted     bool // the run was stopped before the schedule ended
	FinalConverged  bool // the cluster re-converged after the final heal
	FinalTook       time.Duration
	Election        electionReport
	Clock           clockReport
	Locks           lockReport
	V2              v2Record // the idle ids' and group's tokens and terms
	Tasks           taskReport
	User            []Property // the verdicts of the user's workloads (Simulate's, Run's)
	UserSpans       []Span     // their rows in the timeline (Timeliner)
	Net             simnet.NetStats
	Voters          voterReport // the voter configuration over time
	Wall            time.Duration
	Stalls          stallStats // how late the machine ran the simulation's timers
	Timeline        timeline   // for -html
}

// OK reports whether the run passed: no property broken.
func (r *Report) OK() bool { return len(r.Problems()) == 0 }

// Broken reports whether a property was broken (the opposite of OK).
func (r *Report) Broken() bool { return !r.OK() }

// Status is the exit status gossipsync sim gives the run: 1 if a
// property was broken, else 0.
func (r *Report) Status() int {
	if r.OK() {
		return 0
	}
	return 1
}

// String is the report's table, as gossipsync sim prints it.
func (r *Report) String() string {
	var b strings.Builder
	r.print(&b)
	return b.String()
}

// Problems returns a line for each broken property.
func (r *Report) Problems() []string {
	var out []string
	for _, p := range r.properties() {
		if p.Verdict != broken {
			continue
		}
		line := fmt.Sprintf("property %s (%s) BROKEN", p.ID, p.Name)
		if len(p.First) > 0 {
			line += ": " + p.First[0]
		}
		if p.Violations > 1 {
			line += fmt.Sprintf(" (and %d more)", p.Violations-1)
		}
		out = append(out, line)
	}
	return out
}

// leaderCrashes returns when the crashes of the leader happened.
func (r *Report) leaderCrashes() []time.Time {
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

// print writes the final report.
func (r *Report) print(w io.Writer) {
	fmt.Fprintln(w)
	if r.Interrupted {
		fmt.Fprintf(w, "interrupted: %d of the schedule's phases ran\n\n", len(r.Phases))
	}
	r.printFaults(w)
	fmt.Fprintln(w)
	r.Voters.print(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "membership\tfinal convergence %s; crash detection %s\n", r.finalLine(), r.crashDetection())
	fmt.Fprintf(tw, "failures\t%d detected, %d false suspicions\n", r.Detected, r.FalseSuspicions)
	fmt.Fprintf(tw, "network\t%s\n", netLine(r.Net))
	fmt.Fprintf(tw, "per lock op\t%s\n", newOpCost(r.Net, r.Locks).line())
	r.Election.print(tw)
	r.Clock.print(tw)
	r.Locks.print(tw)
	r.Tasks.print(tw)
	fmt.Fprintf(tw, "wall time\t%s\n", fmtDur(r.Wall))
	fmt.Fprintf(tw, "machine\t%s\n", r.Stalls.line())
	tw.Flush()
	fmt.Fprintln(w)
	props := r.properties()
	printProperties(w, props)
	fmt.Fprintf(w, "\n%s.\n", verdictCounts(props))
	if warn := r.Stalls.warning(); warn != "" {
		fmt.Fprintf(w, "\n%s\n", warn)
	}
	fmt.Fprintf(w, "\nseed %d; the same seed gives the same fault schedule.\n", r.Config.Seed)
	fmt.Fprintf(w, "replay: %s\n", replayCommand(r.Config))
}

// printFaults writes the table of convergence times per kind of phase.
func (r *Report) printFaults(w io.Writer) {
	const row = "%-10s %5s %9s %8s %8s\n"
	fmt.Fprintf(w, row, "phase", "count", "converged", "median", "max")
	for _, f := range r.faultRows() {
		fmt.Fprintf(w, row, f.fault, fmt.Sprint(f.count), fmt.Sprintf("%d/%d", len(f.took), f.count), fmtMedian(f.took), fmtMax(f.took))
	}
}

// faultRow is how often one kind of phase was made and how long the
// phases that converged took.
type faultRow struct {
	fault fault
	count int
	took  []time.Duration
}

// faultRows returns a row per kind of phase made, in allFaults order.
func (r *Report) faultRows() []faultRow {
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
func (r *Report) detections() (times []time.Duration, crashes int) {
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

func (r *Report) crashDetection() string {
	times, crashes := r.detections()
	if crashes == 0 {
		return "no crashes"
	}
	return fmt.Sprintf("median %s, max %s (%d of %d crashes seen by all)", fmtMedian(times), fmtMax(times), len(times), crashes)
}

func netLine(s simnet.NetStats) string {
	pct := 0.0
	if s.PacketsSent > 0 {
		pct = 100 * float64(s.PacketsDropped) / float64(s.PacketsSent)
	}
	return fmt.Sprintf("%d packets sent, %d dropped (%.1f%%), %d streams opened", s.PacketsSent, s.PacketsDropped, pct, s.StreamsOpened)
}

func (r *Report) finalLine() string {
	if r.FinalConverged {
		return "OK in " + fmtDur(r.FinalTook)
	}
	return fmt.Sprintf("FAILED: not converged %s after the final heal", fmtDur(r.FinalTook))
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
