package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/sim"
)

// shownViolations is how many violations of a property the report lists.
const shownViolations = 3

// clockReport is what the clock workload recorded and the checker's
// verdict.
type clockReport struct {
	Check      sim.ClockCheck
	References []sim.Reading // each reference the observer saw, in order
	First      clockSync     // the first sync after the start
	Crashes    []phaseResult // the crashes of the reference
	Final      clockSync     // after the final heal
}

// clockProperty is one of C1-C3 with its violations.
type clockProperty struct {
	id, label, meaning string
	violations         []string
	note               string // added to the verdict
}

// checked lists C1-C3 with what the checker found.
func (k *clockReport) checked() []clockProperty {
	return []clockProperty{
		{"C1", "intervals hold", "every Interval contains the reference's time", k.Check.C1Misses, ""},
		{"C2", "Now monotonic", "Now never goes backwards on a node", k.Check.C2Backwards, ""},
		{"C3", "nodes agree", "two synced readings differ by at most the sum of their uncertainties",
			k.Check.C3Misses, ", max disagreement " + fmtFine(k.Check.C3Max)},
		{"C2'", "Now in bound", "Now stays within its own Interval, give or take its previous uncertainty (cluster time never jumps)", k.Check.NowOff, ""},
	}
}

// problems returns a line for each broken property.
func (k *clockReport) problems() []string {
	var out []string
	for _, p := range k.checked() {
		if len(p.violations) > 0 {
			out = append(out, fmt.Sprintf("clock property %s (%s) %s", p.id, p.meaning, verdict(p.violations)))
		}
	}
	return out
}

// print writes the clock section of the report, aligned by tw.
func (k *clockReport) print(tw io.Writer) {
	fmt.Fprintf(tw, "clock\treference group %q: %s\n", clock.ReferenceGroup, k.summary())
	for _, p := range k.checked() {
		state := "held"
		if n := len(p.violations); n > 0 {
			state = fmt.Sprintf("BROKEN: %d violation%s", n, plural(n))
		}
		fmt.Fprintf(tw, "%s %s\t%s%s\n", p.id, p.label, state, p.note)
		for i, v := range p.violations {
			if i == shownViolations {
				fmt.Fprintf(tw, "\t  (and %d more)\n", len(p.violations)-i)
				break
			}
			fmt.Fprintf(tw, "\t  %s\n", v)
		}
	}
	c := k.Check
	fmt.Fprintf(tw, "|error|\tp50 %s, p99 %s\n", fmtFine(sim.Percentile(c.Errors, 50)), fmtFine(sim.Percentile(c.Errors, 99)))
	fmt.Fprintf(tw, "uncertainty\tp50 %s, p99 %s\n", fmtFine(sim.Percentile(c.Uncertainty, 50)), fmtFine(sim.Percentile(c.Uncertainty, 99)))
	fmt.Fprintf(tw, "readings\t%d judged, %d unsynced, %d stale (%d instants observed, %d without a reference)\n",
		c.Judged, c.Unsynced, c.Stale, c.Observations, c.NoReference)
	fmt.Fprintf(tw, "first sync\t%s\n", syncLine(k.First, "the start"))
	if len(k.Crashes) == 0 {
		fmt.Fprintf(tw, "reference crash\tnone\n")
	}
	for _, p := range k.Crashes {
		fmt.Fprintf(tw, "reference crash\t%s\n", resyncLine(p))
	}
	fmt.Fprintf(tw, "final sync\t%s\n", syncLine(k.Final, "the final heal"))
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
