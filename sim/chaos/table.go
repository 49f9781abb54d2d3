package chaos

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// print writes the report's table: what gossipsync sim prints at the end
// of a run.
func (r *Report) print(w io.Writer) {
	fmt.Fprintln(w)
	if r.Interrupted {
		fmt.Fprintf(w, "interrupted: %d of the schedule's phases ran\n\n", len(r.Schedule))
	}
	r.printFaults(w)
	fmt.Fprintln(w)
	r.Voters.print(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := &r.Membership
	fmt.Fprintf(tw, "membership\tfinal convergence %s; crash detection %s\n", m.finalLine(), m.CrashDetection.detectionLine())
	fmt.Fprintf(tw, "failures\t%d detected, %d false suspicions\n", m.Detected, m.FalseSuspicions)
	fmt.Fprintf(tw, "network\t%s\n", r.Network.line())
	fmt.Fprintf(tw, "per lock op\t%s\n", r.Network.PerLockOp.line())
	r.Election.print(tw)
	r.Clock.print(tw)
	r.Locks.print(tw)
	r.Tasks.print(tw)
	r.Events.print(tw)
	r.Groups.print(tw)
	fmt.Fprintf(tw, "wall time\t%s\n", fmtDur(r.Wall.Std()))
	fmt.Fprintf(tw, "machine\t%s\n", r.Machine.line())
	tw.Flush()
	fmt.Fprintln(w)
	printProperties(w, r.Properties)
	fmt.Fprintf(w, "\n%s.\n", verdictCounts(r.Properties))
	if r.Machine.Warning != "" {
		fmt.Fprintf(w, "\n%s\n", r.Machine.Warning)
	}
	fmt.Fprintf(w, "\nseed %d; the same seed gives the same fault schedule.\n", r.Config.Seed)
	fmt.Fprintf(w, "replay: %s\n", r.Replay)
}

// printFaults writes the table of convergence times per kind of phase.
func (r *Report) printFaults(w io.Writer) {
	const row = "%-10s %5s %9s %8s %8s\n"
	fmt.Fprintf(w, row, "phase", "count", "converged", "median", "max")
	for _, f := range r.Faults {
		fmt.Fprintf(w, row, f.Fault, fmt.Sprint(f.Count), fmt.Sprintf("%d/%d", f.Converged, f.Count), fmtOpt(f.Median), fmtOpt(f.Max))
	}
}

// fmtOpt is fmtDur of *d, or "-" for none.
func fmtOpt(d *Duration) string {
	if d == nil {
		return "-"
	}
	return fmtDur(d.Std())
}

// detectionLine describes the spread of the crashes' detection: "median
// 1.2s, max 2.3s (4 of 4 crashes seen by all)".
func (s Spread) detectionLine() string {
	if s.Of == 0 {
		return "no crashes"
	}
	return fmt.Sprintf("median %s, max %s (%d of %d crashes seen by all)", fmtOpt(s.Median), fmtOpt(s.Max), s.Count, s.Of)
}

func (m *MembershipReport) finalLine() string {
	if m.FinalConverged {
		return "OK in " + fmtDur(m.FinalTook.Std())
	}
	return fmt.Sprintf("FAILED: not converged %s after the final heal", fmtDur(m.FinalTook.Std()))
}

func (s *NetworkReport) line() string {
	return fmt.Sprintf("%d packets sent, %d dropped (%.1f%%), %d streams opened", s.PacketsSent, s.PacketsDropped, s.DroppedPct, s.StreamsOpened)
}
