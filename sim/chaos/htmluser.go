package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Timeliner is implemented by a Workload that draws rows of its own in
// the report's HTML timeline (Report.WriteHTML), under the built-in
// ones. Simulate asks for them after Check.
type Timeliner interface {
	Timeline() []Span
}

// Span is one bar in a user workload's rows of the timeline.
type Span struct {
	Row        string    // the row it is drawn in (an account, a key, a node); rows are sorted by name
	Node       string    // the node it belongs to, which gives its colour; "" for grey
	Label      string    // shown on the bar where it fits
	Tip        string    // shown on hovering; "" for the label and the times
	Start, End time.Time // a zero End: still open at the end of the run
	Bad        bool      // it broke a property: drawn with a red edge
}

// userSpans collects the spans of the workloads that draw some.
func userSpans(ws []Workload) []Span {
	var out []Span
	for _, w := range ws {
		if t, ok := w.(Timeliner); ok {
			out = append(out, t.Timeline()...)
		}
	}
	return out
}

// user writes a lane per row of the user workloads' spans.
func (c *chart) user() {
	if len(c.r.UserSpans) == 0 {
		return
	}
	c.heading("your workloads", "rows drawn by the workloads given to Simulate or Run; red edge: broke a property")
	byRow := map[string][]bar{}
	for _, s := range c.r.UserSpans {
		from, to := s.Start.Sub(c.tl.Start), c.end(s.End)
		tip := s.Tip
		if tip == "" {
			tip = fmt.Sprintf("%s: %s from %s to %s", s.Row, s.Label, secs(from), secs(to))
		}
		color := "#adb5bd"
		if col, ok := c.color[s.Node]; ok {
			color = col
		}
		byRow[s.Row] = append(byRow[s.Row], bar{from: from, to: to, color: color, labels: []string{s.Label}, tip: tip, stale: s.Bad})
	}
	rows := make([]string, 0, len(byRow))
	for r := range byRow {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b string) int { return cmp.Or(compareNames(a, b), cmp.Compare(a, b)) })
	var lanes []lane
	for _, r := range rows {
		lanes = append(lanes, lane{name: r, bars: byRow[r]})
	}
	c.lanes(lanes)
}
