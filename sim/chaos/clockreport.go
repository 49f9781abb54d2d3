package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/sim/check"
)

// shownViolations is how many violations of a property the report lists.
const shownViolations = 3

// clockReport is what the clock workload recorded and the checker's
// verdict.
type clockReport struct {
	Check      check.ClockCheck
	References []check.Reading // each reference the observer saw, in order
	First      clockSync       // the first sync after the start
	Crashes    []phaseResult   // the crashes of the reference
	Final      clockSync       // after the final heal
}

// print writes the clock section of the report, aligned by tw.
func (k *clockReport) print(tw io.Writer) {
	fmt.Fprintf(tw, "clock\treference group %q: %s\n", clock.ReferenceGroup, k.summary())
	c := k.Check
	fmt.Fprintf(tw, "clock readings\t%d judged, %d unsynced, %d stale (%d instants observed, %d without a reference)\n",
		c.Judged, c.Unsynced, c.Stale, c.Observations, c.NoReference)
	fmt.Fprintf(tw, "clock first sync\t%s\n", syncLine(k.First, "the start"))
	if len(k.Crashes) == 0 {
		fmt.Fprintf(tw, "reference crash\tnone\n")
	}
	for _, p := range k.Crashes {
		fmt.Fprintf(tw, "reference crash\t%s\n", resyncLine(p))
	}
	fmt.Fprintf(tw, "clock final sync\t%s\n", syncLine(k.Final, "the final heal"))
}

// summary names the references seen.
func (k *clockReport) summary() string {
	if len(k.References) == 0 {
		return "no reference seen"
	}
	each := make([]string, len(k.References))
	for i, r := range k.References {
		each[i] = fmt.Sprintf("%s term %d", r.Node, r.Stats.Term)
	}
	return fmt.Sprintf("%d references: %s", len(each), strings.Join(each, ", "))
}

// syncLine describes s, measured from event: "all 5 on reference n3
// term 1, 2.13s after the start".
func syncLine(s clockSync, event string) string {
	if s.OK {
		return fmt.Sprintf("all %d on reference %s term %d, %s after %s", s.Alive, s.Ref.Node, s.Ref.Stats.Term, fmtDur(s.Took), event)
	}
	ref := "no reference"
	if s.Ref.Node != "" {
		ref = fmt.Sprintf("reference %s term %d", s.Ref.Node, s.Ref.Stats.Term)
	}
	return fmt.Sprintf("NOT all synced within %s of %s: %d of %d on %s", fmtDur(s.Took), event, s.Synced, s.Alive, ref)
}

// resyncLine describes the re-sync after a crash of the reference.
func resyncLine(p phaseResult) string {
	line := fmt.Sprintf("%s term %d at %.1fs: ", p.Node, p.RefTerm, p.At.Seconds())
	if p.Resynced {
		return line + fmt.Sprintf("all on %s term %d in %s", p.NewRef, p.NewTerm, fmtDur(p.Resync))
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
