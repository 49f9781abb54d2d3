package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// shownViolations is how many violations of a property the report lists.
const shownViolations = 3

// clockRecord is what the clock workload recorded and the checker's
// verdict.
type clockRecord struct {
	Check      check.ClockCheck
	References []check.Reading // each reference the observer saw, in order
	First      clockSync       // the first sync after the start
	Crashes    []phaseResult   // the crashes of the reference
	Final      clockSync       // after the final heal
}

// print writes the clock section of the report, aligned by tw.
func (k *ClockReport) print(tw io.Writer) {
	fmt.Fprintf(tw, "clock\treference group %q: %s\n", k.ReferenceGroup, k.references())
	fmt.Fprintf(tw, "clock readings\t%d judged, %d unsynced, %d stale (%d instants observed, %d without a reference)\n",
		k.Judged, k.Unsynced, k.Stale, k.Observations, k.NoReference)
	fmt.Fprintf(tw, "clock first sync\t%s\n", k.FirstSync.line("the start"))
	if len(k.ReferenceCrashes) == 0 {
		fmt.Fprintf(tw, "reference crash\tnone\n")
	}
	for _, p := range k.ReferenceCrashes {
		fmt.Fprintf(tw, "reference crash\t%s\n", p.resyncLine())
	}
	fmt.Fprintf(tw, "clock final sync\t%s\n", k.FinalSync.line("the final heal"))
}

// references names the references seen.
func (k *ClockReport) references() string {
	if len(k.References) == 0 {
		return "no reference seen"
	}
	each := make([]string, len(k.References))
	for i, r := range k.References {
		each[i] = fmt.Sprintf("%s term %d", r.Node, r.Term)
	}
	return fmt.Sprintf("%d references: %s", len(each), strings.Join(each, ", "))
}

// line describes s, measured from event: "all 5 on reference n3 term 1,
// 2.13s after the start".
func (s ClockSync) line(event string) string {
	if s.OK {
		return fmt.Sprintf("all %d on reference %s term %d, %s after %s", s.Alive, s.Reference, s.Term, fmtDur(s.Took.Std()), event)
	}
	ref := "no reference"
	if s.Reference != "" {
		ref = fmt.Sprintf("reference %s term %d", s.Reference, s.Term)
	}
	return fmt.Sprintf("NOT all synced within %s of %s: %d of %d on %s", fmtDur(s.Took.Std()), event, s.Synced, s.Alive, ref)
}

// resyncLine describes the re-sync after p, a crash of the reference.
func (p Phase) resyncLine() string {
	line := fmt.Sprintf("%s term %d at %.1fs: ", p.Node, p.RefTerm, p.At.Std().Seconds())
	if p.Resynced != nil && *p.Resynced && p.Resync != nil {
		return line + fmt.Sprintf("all on %s term %d in %s", p.NewRef, p.NewRefTerm, fmtDur(p.Resync.Std()))
	}
	return line + "NOT all re-synced before the phase ended"
}

// fmtFine rounds a small duration less than fmtDur does: 45µs, 1.23ms.
func fmtFine(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return fmtDur(d)
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
