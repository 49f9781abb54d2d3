package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printTable writes the results as one markdown table, the row name on
// the first line of each group, then the machine and a legend.
func printTable(w io.Writer, rep report) {
	fmt.Fprintln(w, "| row | system | n | ops/s | p50 | p99 | gossipsync ÷ this |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|")
	prev := ""
	for _, r := range rep.Results {
		title := r.Row
		if title == prev {
			title = ""
		}
		prev = r.Row
		cells := []string{title, r.System}
		if r.Skipped != "" {
			cells = append(cells, "", r.Skipped, "", "", "")
		} else {
			cells = append(cells, count(r), opsCell(r), fmtDur(r.p50()), fmtDur(r.p99()), ratioCell(r))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	m := rep.Machine
	fmt.Fprintf(w, "\n%d CPUs, %s %s/%s, %s; `%s`, wall time %s.\n", m.CPUs, m.GoVersion, m.OS, m.Arch, m.Date, rep.Command, rep.Wall)
	fmt.Fprintln(w, "Ratios: ops/s above 1× means gossipsync does more per second; p50 below 1× means gossipsync is faster. With n below 100, p99 is the maximum.")
}

// count is the n cell: operations, and failures if any.
func count(r result) string {
	s := fmt.Sprint(r.N)
	if r.Errors > 0 {
		s += fmt.Sprintf(" (%d failed)", r.Errors)
	}
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

func opsCell(r result) string {
	if r.OpsPerSec == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", r.OpsPerSec)
}

func ratioCell(r result) string {
	if r.Ratio == 0 {
		return "—"
	}
	s := fmt.Sprintf("**%s×** %s", fmtRatio(r.Ratio), r.Metric)
	if r.VariantRatio > 0 {
		s += fmt.Sprintf(" (%s: %s×)", r.Variant, fmtRatio(r.VariantRatio))
	}
	return s
}

// fmtRatio gives two significant figures, none after the point from 10 up.
func fmtRatio(x float64) string {
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f", x)
	case x >= 1:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2g", x)
	}
}

// fmtDur prints a latency with three significant figures in µs, ms or s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.3g s", d.Seconds())
	}
}
