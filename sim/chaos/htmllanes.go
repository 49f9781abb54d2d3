package chaos

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// The rows of the -html page's chart: leases and lock holds as bars in
// lanes, each node's clock error and its tasks in flight.

// bar is one lease or lock hold.
type bar struct {
	from, to time.Duration
	color    string
	labels   []string // the first that fits is shown
	tip      string
	paused   bool // a lock holder's node was paused during the hold
	stale    bool // its first write was refused
	below    bool // a configuration with fewer voters than its target
}

// lane is a row of bars with a name; overlapping bars go to sub-rows.
type lane struct {
	name string
	bars []bar
}

// pack assigns each bar a sub-row, the first where it does not overlap
// one already there, and returns the sub-rows and their count.
func pack(bars []bar) ([]int, int) {
	rows := make([]int, len(bars))
	var ends []time.Duration // per sub-row, the end of its last bar
	order := make([]int, len(bars))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(bars[a].from, bars[b].from) })
	for _, i := range order {
		row := slices.IndexFunc(ends, func(e time.Duration) bool { return e <= bars[i].from })
		if row < 0 {
			row = len(ends)
			ends = append(ends, 0)
		}
		ends[row] = bars[i].to
		rows[i] = row
	}
	return rows, max(len(ends), 1)
}

// lanes writes lanes of bars.
func (c *chart) lanes(lanes []lane) {
	for _, l := range lanes {
		rows, n := pack(l.bars)
		h := float64(n)*(barH+barGap) + barGap
		text(&c.fg, c.x0-8, c.y+barGap+barH-4, `class="name" text-anchor="end"`, clip(l.name, c.x0-12, charW))
		rect(&c.fg, c.x0, c.y, c.x1-c.x0, h, `class="lane"`)
		for i, b := range l.bars {
			c.bar(b, c.y+barGap+float64(rows[i])*(barH+barGap))
		}
		c.y += h + rowGap
	}
}

func (c *chart) bar(b bar, y float64) {
	x0 := c.x(b.from)
	w := max(c.x(b.to)-x0, 1.5)
	fmt.Fprintf(&c.fg, "<g><title>%s</title>", template.HTMLEscapeString(b.tip))
	class := "bar"
	if b.stale {
		class += " stale"
	}
	if b.below {
		class += " below"
	}
	rect(&c.fg, x0, y, w, barH, fmt.Sprintf(`class="%s" fill="%s"`, class, b.color))
	if b.paused {
		rect(&c.fg, x0, y, w, barH, `class="paused" fill="url(#paused)"`)
	}
	if l := fit(w, charW, b.labels...); l != "" {
		text(&c.fg, x0+2, y+barH-4, fmt.Sprintf(`class="lbl" fill="%s"`, textOn(b.color)), l)
	}
	c.fg.WriteString("</g>\n")
}

// textOn returns a text colour readable on color ("#rrggbb").
func textOn(color string) string {
	var r, g, b int
	fmt.Sscanf(color, "#%02x%02x%02x", &r, &g, &b)
	if 0.299*float64(r)+0.587*float64(g)+0.114*float64(b) > 150 {
		return "#212529"
	}
	return "#ffffff"
}

// election writes a lane per election group.
func (c *chart) election() {
	c.heading("election", "leader's lease per group; label: node and term")
	byGroup := map[string][]bar{}
	for _, l := range c.r.Election.Leases {
		from, to := l.Start.Sub(c.tl.Start), c.end(l.End)
		held := "still held at the end"
		if !l.End.IsZero() {
			held = "until " + secs(to)
		}
		byGroup[l.Group] = append(byGroup[l.Group], bar{
			from: from, to: to, color: c.color[l.Node],
			labels: []string{fmt.Sprintf("%s term %d", l.Node, l.Term), fmt.Sprintf("%s t%d", l.Node, l.Term), l.Node},
			tip:    fmt.Sprintf("group %q: %s leads in term %d from %s %s", l.Group, l.Node, l.Term, secs(from), held),
		})
	}
	var lanes []lane
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		lanes = append(lanes, lane{name: fmt.Sprintf("group %q", g), bars: byGroup[g]})
	}
	if len(lanes) == 0 {
		lanes = []lane{{name: "no leases"}}
	}
	c.lanes(lanes)
}

// locks writes a lane per lock id.
func (c *chart) locks() {
	c.heading("locks", "holds per lock id; label: node/token; hatched: holder paused; red edge: its write was refused (stale token)")
	byID := map[string][]bar{}
	for _, g := range c.tl.Grants {
		from, to := g.Start.Sub(c.tl.Start), c.end(g.End)
		tip := fmt.Sprintf("%s token %d: held by %s from %s to %s (Acquire called at %s)", g.ID, g.Token, g.Node, secs(from), secs(to), secs(g.Called.Sub(c.tl.Start)))
		if g.Paused {
			tip += "; the holder was paused"
		}
		if g.Stale {
			tip += "; its write was refused as stale"
		}
		byID[g.ID] = append(byID[g.ID], bar{
			from: from, to: to, color: c.color[g.Node], paused: g.Paused, stale: g.Stale,
			labels: []string{fmt.Sprintf("%s/%d", g.Node, g.Token), fmt.Sprint(g.Token)},
			tip:    tip,
		})
	}
	ids := slices.SortedFunc(maps.Keys(byID), compareNames)
	var lanes []lane
	for _, id := range ids {
		lanes = append(lanes, lane{name: id, bars: byID[id]})
	}
	if len(lanes) == 0 {
		lanes = []lane{{name: "no grants"}}
	}
	c.lanes(lanes)
}

// nodeRow writes a node's name, the row's background and when the node
// was down, cut off or frozen; it returns the row's top and moves down.
func (c *chart) nodeRow(node string, h float64, right, tip string) float64 {
	y := c.y
	rect(&c.fg, c.x0-24, y+h/2-4, 8, 8, fmt.Sprintf(`fill="%s"`, c.color[node]))
	text(&c.fg, c.x0-28, y+h/2+4, `class="name" text-anchor="end"`, clip(node, c.x0-36, charW))
	tipRect(&c.fg, c.x0, y, c.x1-c.x0, h, `class="row"`, tip)
	for _, s := range c.down[node] {
		x0 := c.x(s.from)
		tipRect(&c.fg, x0, y, max(c.x(s.to)-x0, 1), h, fmt.Sprintf(`class="state" fill="%s" fill-opacity="%.2f"`, s.color, s.opacity), fmt.Sprintf("%s %s from %s to %s", node, s.what, secs(s.from), secs(s.to)))
	}
	text(&c.fg, c.x1+6, y+h/2+4, `class="figure"`, right)
	c.y += h + rowGap
	return y
}

// nodeSpans returns, per node, when the phases cut it off (the minority
// side of a partition), froze it (a pause) or crashed it (until it was
// restarted or the final heal).
func nodeSpans(phases []phaseResult, tl timeline) map[string][]span {
	out := map[string][]span{}
	final := tl.End
	if tl.Healed > 0 {
		final = tl.Healed
	}
	for i, p := range phases {
		for _, n := range p.Minority {
			out[n] = append(out[n], span{p.At, phaseEnd(p), faultColor(p.Fault), 0.35, "cut off (" + string(p.Fault) + ", minority side)"})
		}
		if p.Pause > 0 && p.Node != "" {
			out[p.Node] = append(out[p.Node], span{p.At, p.At + p.Pause, faultColor(p.Fault), 0.4, "frozen (" + string(p.Fault) + ")"})
		}
		if p.Fault == faultCrash && p.Node != "" {
			to := final
			if j := slices.IndexFunc(phases[i+1:], func(q phaseResult) bool { return q.Fault == faultRestart && q.Node == p.Node }); j >= 0 {
				to = phases[i+1+j].At
			}
			out[p.Node] = append(out[p.Node], span{p.At, to, downColor, 0.3, "down (crashed)"})
		}
	}
	return out
}

// bucketX returns the left and right x of bucket i.
func (c *chart) bucketX(i int) (float64, float64) {
	from := c.tl.Begin + time.Duration(i)*c.tl.Step
	return c.x(from), c.x(from + c.tl.Step)
}

// symlog maps d to a signed log scale that is linear near 0: 1 per decade
// beyond 10 µs.
func symlog(d time.Duration) float64 {
	v := math.Log10(1 + math.Abs(float64(d))/float64(10*time.Microsecond))
	if d < 0 {
		return -v
	}
	return v
}

// clocks writes a row per node: the clock's error against the reference
// and its uncertainty around it.
func (c *chart) clocks() {
	var most time.Duration
	for _, nc := range c.tl.Clocks {
		for _, b := range nc.Buckets {
			if b.N > 0 && (b.State == check.ClockJudged || b.State == check.ClockReference) {
				most = max(most, absDur(b.Lo), absDur(b.Hi))
			}
		}
	}
	most = max(most, time.Millisecond)
	grid := time.Duration(math.Pow(10, math.Ceil(math.Log10(float64(most)))-1)) // the decade below most
	c.heading("clocks", fmt.Sprintf("error against the reference's time (line) and ± uncertainty (band); a band must cover the middle line; log scale, rows span ±%s, dotted at ±%s", fmtFine(most), fmtFine(grid)))
	scale := symlog(most)
	for _, nc := range c.tl.Clocks {
		var worst, widest time.Duration
		var judged, referenced bool
		for _, b := range nc.Buckets {
			if b.N > 0 && b.State == check.ClockJudged {
				judged = true
				worst = max(worst, absDur(b.Error))
			}
			referenced = referenced || b.N > 0 && b.State == check.ClockReference
			if b.N > 0 && (b.State == check.ClockJudged || b.State == check.ClockReference) {
				widest = max(widest, (b.Hi-b.Lo)/2)
			}
		}
		right := "|e| " + fmtFine(worst)
		switch {
		case !judged && referenced:
			right = "reference"
		case !judged:
			right = "not judged"
		}
		top := c.nodeRow(nc.Node, clockH, right, fmt.Sprintf("%s: largest |error| %s, widest uncertainty ±%s", nc.Node, fmtFine(worst), fmtFine(widest)))
		mid := top + clockH/2
		y := func(d time.Duration) float64 { return mid - symlog(d)/scale*(clockH/2-2) }
		for _, g := range []time.Duration{grid, -grid} {
			fmt.Fprintf(&c.fg, "<line class=\"cgrid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", c.x0, c.x1, y(g), y(g))
		}
		fmt.Fprintf(&c.fg, "<line class=\"czero\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", c.x0, c.x1, mid, mid)
		c.clockMarks(nc.Buckets, top)
		c.clockRuns(nc.Buckets, check.ClockReference, refColor, y)
		c.clockRuns(nc.Buckets, check.ClockJudged, bandColor, y)
	}
}

// clockMarks writes the buckets where the node read no time (unsynced),
// had no reference to be judged against, or read on an older term.
func (c *chart) clockMarks(bs []clockBucket, top float64) {
	for i, b := range bs {
		if b.N == 0 {
			continue
		}
		x0, x1 := c.bucketX(i)
		switch b.State {
		case check.ClockUnsynced:
			rect(&c.fg, x0, top, x1-x0, clockH, `class="unsynced"`)
		case check.ClockNoReference:
			rect(&c.fg, x0, top, x1-x0, clockH, `class="noref"`)
		case check.ClockStale:
			rect(&c.fg, x0, top+clockH/2-3, x1-x0, 6, `class="cstale"`)
		}
	}
}

// clockRuns writes, for each run of consecutive buckets in state, the
// band from Lo to Hi and the line of the error (0 for the reference).
func (c *chart) clockRuns(bs []clockBucket, state check.ClockState, fill string, y func(time.Duration) float64) {
	for i := 0; i < len(bs); {
		if bs[i].N == 0 || bs[i].State != state {
			i++
			continue
		}
		j := i
		for j < len(bs) && bs[j].N > 0 && bs[j].State == state {
			j++
		}
		var upper, lower, line []string
		for k := i; k < j; k++ {
			x0, x1 := c.bucketX(k)
			upper = append(upper, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x0, y(bs[k].Hi), x1, y(bs[k].Hi)))
			lower = append(lower, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x1, y(bs[k].Lo), x0, y(bs[k].Lo)))
			line = append(line, fmt.Sprintf("%.1f,%.1f", (x0+x1)/2, y(bs[k].Error)))
		}
		slices.Reverse(lower)
		fmt.Fprintf(&c.fg, "<polygon class=\"uband\" fill=\"%s\" points=\"%s %s\"/>\n", fill, strings.Join(upper, " "), strings.Join(lower, " "))
		if len(line) == 1 {
			x0, x1 := c.bucketX(i)
			line = []string{fmt.Sprintf("%.1f,%.1f", x0, y(bs[i].Error)), fmt.Sprintf("%.1f,%.1f", x1, y(bs[i].Error))}
		}
		class := "err"
		if state == check.ClockReference {
			class = "referr"
		}
		fmt.Fprintf(&c.fg, "<polyline class=\"%s\" points=\"%s\"/>\n", class, strings.Join(line, " "))
		i = j
	}
}

// tasks writes a row per node: the most Runs executing at once in each
// bucket, as a step chart.
func (c *chart) tasks() {
	most := 1
	for _, l := range c.tl.Load {
		most = max(most, slices.Max(append([]int{0}, l.Max...)))
	}
	c.heading("tasks", fmt.Sprintf("Runs executing on each node (the most at once per %s); rows span 0 to %d", fmtDur(c.tl.Step), most))
	for _, l := range c.tl.Load {
		peak := slices.Max(append([]int{0}, l.Max...))
		top := c.nodeRow(l.Node, loadH, fmt.Sprintf("max %d", peak), fmt.Sprintf("%s: at most %d Runs at once", l.Node, peak))
		c.area(top, l.Max, most, "load")
	}
}
