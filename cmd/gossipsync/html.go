package main

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

// The -html page: one self-contained file (inline SVG, CSS and a few lines
// of script, nothing fetched) with the run on one time axis, in seconds
// from the start of the schedule: the faults as bands over the whole
// chart, the election leases, the voter configuration, the lock holds, each node's clock error
// with its uncertainty, and each node's tasks in flight. Every text that
// comes from the run is escaped; the page is also well-formed XML, so
// that a test can parse it without an HTML parser.

// openHTML creates the -html file now, so that a bad path fails before
// the run.
func openHTML(cfg *simConfig) error {
	if cfg.HTML == "" {
		return nil
	}
	var err error
	if cfg.htmlOut, err = os.Create(cfg.HTML); err != nil {
		if cfg.jsonOut != nil { // the run will not happen
			cfg.jsonOut.Close()
			os.Remove(cfg.JSON)
			cfg.jsonOut = nil
		}
		return fmt.Errorf("-html: cannot create the page file: %v", err)
	}
	return nil
}

// discardHTML closes and removes the -html file of a run that did not
// happen.
func discardHTML(cfg simConfig) {
	if cfg.htmlOut != nil {
		cfg.htmlOut.Close()
		os.Remove(cfg.HTML)
	}
}

// saveHTML writes the page of rep to the -html file, if asked for, and
// returns status, or 1 if it could not.
func saveHTML(cfg simConfig, rep *report, status int, stderr io.Writer) int {
	if cfg.htmlOut == nil {
		return status
	}
	err := rep.writeHTML(cfg.htmlOut, status)
	if cerr := cfg.htmlOut.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync sim: writing -html: %v\n", err)
		return 1
	}
	return status
}

// writeHTML writes the page of r; status is the run's exit status.
func (r *report) writeHTML(w io.Writer, status int) error {
	return pageTemplate.Execute(w, newPage(r, status))
}

// page is what pageTemplate shows.
type page struct {
	Title    string
	Replay   string
	Problems []string
	Status   int
	Notes    []string // above the chart: an interrupted run
	Legend   []legendGroup
	Width    float64
	Height   float64
	Bands    int           // fault bands drawn, for the page's self-check
	Chart    template.HTML // the SVG's content, built by chart with every text escaped
	Phases   []phaseRow
}

type legendGroup struct {
	Name  string
	Items []legendItem
}

type legendItem struct {
	Swatch template.HTML // a small inline SVG made from constants
	Label  string
}

type phaseRow struct {
	N     string // its number, which labels a band too narrow for the kind
	Color string // from a constant palette
	Line  string
}

func newPage(r *report, status int) page {
	c := newChart(r)
	c.draw()
	p := page{
		Title:    pageTitle(r),
		Replay:   replayCommand(r.Config),
		Problems: r.problems(),
		Status:   status,
		Width:    pageWidth,
		Height:   c.y,
		Bands:    c.bands,
		Chart:    template.HTML(c.bg.String() + c.fg.String()),
		Legend:   c.legend(),
	}
	if r.Interrupted {
		p.Notes = append(p.Notes, fmt.Sprintf("interrupted: %d of the schedule's phases ran", len(r.Phases)))
	}
	width := 0
	for _, ph := range r.Phases {
		width = max(width, len(ph.what()))
	}
	for i, ph := range r.Phases {
		p.Phases = append(p.Phases, phaseRow{fmt.Sprint(i + 1), faultColor(ph.Fault), phaseLine(ph, ph.what(), width)})
	}
	final := phaseResult{At: r.Timeline.Healed, Converged: r.FinalConverged, Took: r.FinalTook}
	p.Phases = append(p.Phases, phaseRow{"final", finalColor, phaseLine(final, "final heal", width)})
	return p
}

// pageTitle is the title line: seed, scenario, nodes and duration.
func pageTitle(r *report) string {
	c := r.Config
	s := fmt.Sprintf("gossipsync sim: seed %d, scenario %s, %d nodes, duration %v", c.Seed, c.Scenario.Name, c.Nodes, c.Duration)
	if c.Unsafe {
		s += ", UNSAFE locks"
	}
	return s
}

// Geometry of the chart, in SVG units (pixels at 100%).
const (
	pageWidth = 1400.0
	gutter    = 150.0 // at the left: section, lane and node names
	rightPad  = 90.0  // at the right: a figure per row
	axisH     = 24.0
	faultH    = 40.0 // the row of fault labels
	headH     = 26.0 // a section's heading
	barH      = 16.0 // a bar of a lane
	barGap    = 3.0
	clockH    = 30.0 // a node's clock row
	loadH     = 16.0 // a node's tasks row
	rowGap    = 2.0
	charW     = 6.7 // width of a character of the 11px monospace labels, with room
	smallW    = 6.1 // of the 10px ones
)

// Colours. Faults of a kind the page does not know get otherFault.
const (
	otherFault  = "#868e96"
	finalColor  = "#2b8a3e"
	startColor  = "#adb5bd"
	bandColor   = "#74c0fc" // a clock's uncertainty
	errorColor  = "#1864ab" // a clock's error
	refColor    = "#f59f00" // the clock reference
	unsynced    = "#ffc9c9"
	noRefColor  = "#dee2e6"
	staleColor  = "#868e96"
	loadColor   = "#5c7cfa"
	downColor   = "#343a40"
	convergedOK = "#212529"
	convergedNo = "#e03131"
)

func faultColor(f fault) string {
	switch f {
	case faultPartition:
		return "#f76707"
	case "split":
		return "#9c36b5"
	case "bridge":
		return "#f59f00"
	case "isolate":
		return "#d6336c"
	case faultHeal:
		return "#40c057"
	case faultCrash:
		return "#e03131"
	case faultRestart:
		return "#1c7ed6"
	case faultPause:
		return "#0ca678"
	case "jump":
		return "#1098ad"
	case faultLoss:
		return "#7048e8"
	case "leave":
		return "#8d6e63"
	case "join":
		return "#66a80f"
	default:
		return otherFault
	}
}

// nodePalette colours the nodes' bars, in turn.
var nodePalette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// chart draws the SVG: bg the bands and grid behind, fg the rest.
type chart struct {
	r      *report
	tl     timeline
	bg, fg strings.Builder
	y      float64 // the next row's top
	top    float64 // of the fault row: the bands start there
	x0, x1 float64 // the plot's left and right edges
	color  map[string]string
	bands  int
	// labelRoom is how far right a band's label may reach beyond its
	// band; 0: to the band's end.
	labelRoom float64
	down      map[string][]span // per node, when it was down, cut off or frozen
}

// span is a stretch of time of one kind, from the schedule's start.
type span struct {
	from, to time.Duration
	color    string
	opacity  float64
	what     string
}

func newChart(r *report) *chart {
	c := &chart{r: r, tl: r.Timeline, x0: gutter, x1: pageWidth - rightPad, color: map[string]string{}}
	if c.tl.End <= c.tl.Begin {
		c.tl.End = c.tl.Begin + time.Second
	}
	for i, n := range c.tl.Nodes {
		c.color[n] = nodePalette[i%len(nodePalette)]
	}
	c.down = nodeSpans(r.Phases, c.tl)
	return c
}

// x returns the x of d, clamped to the plot.
func (c *chart) x(d time.Duration) float64 {
	f := float64(d-c.tl.Begin) / float64(c.tl.End-c.tl.Begin)
	return c.x0 + min(max(f, 0), 1)*(c.x1-c.x0)
}

// end returns t from the schedule's start, or the end of the axis if t is
// zero (still held or running).
func (c *chart) end(t time.Time) time.Duration {
	if t.IsZero() {
		return c.tl.End
	}
	return t.Sub(c.tl.Start)
}

func (c *chart) draw() {
	c.axis(c.y+16, "axis-top")
	c.y += axisH
	c.top = c.y
	c.faults()
	c.election()
	c.voters()
	c.locks()
	c.clocks()
	c.tasks()
	c.y += 4
	c.axis(c.y+14, "axis-bottom")
	c.grid(c.top, c.y)
	c.y += axisH
	c.finalBands(c.top, c.y-axisH)
}

// rect writes a rectangle; attrs are constant attributes, never data.
func rect(b *strings.Builder, x, y, w, h float64, attrs string) {
	fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s/>\n", x, y, max(w, 0), max(h, 0), attrs)
}

// tipRect writes a rectangle with a tooltip.
func tipRect(b *strings.Builder, x, y, w, h float64, attrs, tip string) {
	fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s><title>%s</title></rect>\n",
		x, y, max(w, 0), max(h, 0), attrs, template.HTMLEscapeString(tip))
}

// text writes s, escaped, at x, y.
func text(b *strings.Builder, x, y float64, attrs, s string) {
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" %s>%s</text>\n", x, y, attrs, template.HTMLEscapeString(s))
}

// fit returns the first of labels that fits in width w of characters of
// width cw, or "".
func fit(w, cw float64, labels ...string) string {
	for _, l := range labels {
		if float64(len([]rune(l)))*cw+4 <= w {
			return l
		}
	}
	return ""
}

// clip shortens s to fit in width w, with an ellipsis; "" if not even
// three characters and the ellipsis fit.
func clip(s string, w, cw float64) string {
	n := int((w - 4) / cw)
	r := []rune(s)
	switch {
	case len(r) <= n:
		return s
	case n < 4:
		return ""
	}
	return string(r[:n-1]) + "…"
}

// secs formats d in seconds for the axis and tooltips: "12.3s".
func secs(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// axis writes the tick labels at y.
func (c *chart) axis(y float64, class string) {
	step := tickStep(c.tl.End - c.tl.Begin)
	for t := firstTick(c.tl.Begin, step); t <= c.tl.End; t += step {
		text(&c.fg, c.x(t), y, `class="tick `+class+`" text-anchor="middle"`, fmt.Sprintf("%gs", t.Seconds()))
	}
	text(&c.fg, 8, y, `class="tick"`, "s from the start")
}

// grid writes the vertical lines of the ticks from y0 to y1.
func (c *chart) grid(y0, y1 float64) {
	step := tickStep(c.tl.End - c.tl.Begin)
	for t := firstTick(c.tl.Begin, step); t <= c.tl.End; t += step {
		cls := "grid"
		if t == 0 {
			cls = "grid zero"
		}
		fmt.Fprintf(&c.bg, "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", cls, c.x(t), c.x(t), y0, y1)
	}
}

// firstTick returns the first multiple of step at or after begin.
func firstTick(begin, step time.Duration) time.Duration {
	t := begin / step * step // rounds toward zero
	if t < begin {
		t += step
	}
	return t
}

// tickStep returns a round step that puts at most 25 ticks on span.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute} {
		if span/s <= 25 {
			return s
		}
	}
	return span / 10
}

// phaseEnd is when p ended: at the end planned for it, or a phase's
// Length after it was made if it was made late.
func phaseEnd(p phaseResult) time.Duration {
	if end := p.Start + p.Length; end > p.At {
		return end
	}
	return p.At + p.Length
}

// faults writes the row of fault labels and the bands behind the chart
// (their height is known only at the end: see finalBands).
func (c *chart) faults() {
	y := c.y
	text(&c.fg, 8, y+14, `class="section"`, "faults")
	text(&c.fg, 8, y+28, `class="note"`, "bar: time to converge")
	if c.tl.Begin < 0 {
		c.bandLabel(c.tl.Begin, 0, startColor, []string{"start"}, []string{"workloads start"}, "before the schedule: the cluster forms, the first leader and clock sync")
	}
	for i, p := range c.r.Phases {
		kind := string(p.Fault)
		what := p.what()
		detail := strings.TrimSpace(strings.TrimPrefix(what, kind))
		c.bandLabel(p.At, phaseEnd(p), faultColor(p.Fault), []string{kind, fmt.Sprint(i + 1)}, []string{detail}, fmt.Sprintf("%s to %s: %s", secs(p.At), secs(phaseEnd(p)), phaseLine(p, what, 0)))
		c.convergeBar(p.At, p.Took, p.Converged)
	}
	if c.tl.Healed > 0 {
		took := fmtDur(c.r.FinalTook)
		outcome := []string{"converged in " + took, "in " + took}
		if !c.r.FinalConverged {
			outcome = []string{"NOT converged in " + took, "NOT converged"}
		}
		c.labelRoom = pageWidth - 4 // the last band's label may use the right margin
		c.bandLabel(c.tl.Healed, c.tl.End, finalColor, []string{"final heal", "final"}, outcome, fmt.Sprintf("%s: final heal, loss off, crashed nodes restarted; %s", secs(c.tl.Healed), outcome[0]))
		c.convergeBar(c.tl.Healed, c.r.FinalTook, c.r.FinalConverged)
	}
	c.y += faultH
}

// bandLabel writes the strip and the two label lines of a band in the
// fault row: the first of names that fits (the kind, or the phase's
// number in the table under the chart) and the first of details that
// fits, or as much of the first as fits.
func (c *chart) bandLabel(from, to time.Duration, color string, names, details []string, tip string) {
	x0, x1 := c.x(from), c.x(to)
	room := max(x1, c.labelRoom) - x0
	fmt.Fprintf(&c.fg, "<g class=\"band-label\"><title>%s</title>\n", template.HTMLEscapeString(tip))
	rect(&c.fg, x0, c.y, x1-x0, 4, fmt.Sprintf(`fill="%s"`, color))
	if k := fit(room, charW, names...); k != "" {
		text(&c.fg, x0+2, c.y+16, `class="lbl kind"`, k)
	}
	d := fit(room, smallW, details...)
	if d == "" {
		d = clip(details[0], room, smallW)
	}
	if d != "" {
		text(&c.fg, x0+2, c.y+29, `class="lbl small"`, d)
	}
	c.fg.WriteString("</g>\n")
}

// convergeBar writes the time from a fault to convergence, under its
// label.
func (c *chart) convergeBar(at, took time.Duration, ok bool) {
	color := convergedOK
	if !ok {
		color = convergedNo
	}
	x0 := c.x(at)
	rect(&c.fg, x0, c.y+faultH-6, max(c.x(at+took)-x0, 1.5), 3, fmt.Sprintf(`fill="%s"`, color))
}

// finalBands writes the bands from y0 to y1 behind everything.
func (c *chart) finalBands(y0, y1 float64) {
	var b strings.Builder
	band := func(from, to time.Duration, color string, opacity float64, tip string) {
		x0, x1 := c.x(from), c.x(to)
		tipRect(&b, x0, y0, x1-x0, y1-y0, fmt.Sprintf(`class="band" fill="%s" fill-opacity="%.2f"`, color, opacity), tip)
		c.bands++
	}
	if c.tl.Begin < 0 {
		band(c.tl.Begin, 0, startColor, 0.18, "before the schedule")
	}
	for _, p := range c.r.Phases {
		band(p.At, phaseEnd(p), faultColor(p.Fault), 0.14, p.what())
	}
	if c.tl.Healed > 0 {
		band(c.tl.Healed, c.tl.End, finalColor, 0.07, "after the final heal")
		fmt.Fprintf(&b, "<line class=\"heal\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", c.x(c.tl.Healed), c.x(c.tl.Healed), y0, y1)
	}
	b.WriteString(c.bg.String())
	c.bg.Reset()
	c.bg.WriteString(b.String())
}

// heading writes a section's heading and a note after it.
func (c *chart) heading(name, note string) {
	text(&c.fg, 8, c.y+18, `class="section"`, name)
	text(&c.fg, c.x0, c.y+18, `class="note"`, note)
	fmt.Fprintf(&c.fg, "<line class=\"sep\" x1=\"0\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", pageWidth, c.y+2, c.y+2)
	c.y += headH
}

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
			if b.N > 0 && (b.State == sim.ClockJudged || b.State == sim.ClockReference) {
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
			if b.N > 0 && b.State == sim.ClockJudged {
				judged = true
				worst = max(worst, absDur(b.Error))
			}
			referenced = referenced || b.N > 0 && b.State == sim.ClockReference
			if b.N > 0 && (b.State == sim.ClockJudged || b.State == sim.ClockReference) {
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
		c.clockRuns(nc.Buckets, sim.ClockReference, refColor, y)
		c.clockRuns(nc.Buckets, sim.ClockJudged, bandColor, y)
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
		case sim.ClockUnsynced:
			rect(&c.fg, x0, top, x1-x0, clockH, `class="unsynced"`)
		case sim.ClockNoReference:
			rect(&c.fg, x0, top, x1-x0, clockH, `class="noref"`)
		case sim.ClockStale:
			rect(&c.fg, x0, top+clockH/2-3, x1-x0, 6, `class="cstale"`)
		}
	}
}

// clockRuns writes, for each run of consecutive buckets in state, the
// band from Lo to Hi and the line of the error (0 for the reference).
func (c *chart) clockRuns(bs []clockBucket, state sim.ClockState, fill string, y func(time.Duration) float64) {
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
		if state == sim.ClockReference {
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
		base := top + loadH
		y := func(v int) float64 { return base - float64(v)/float64(most)*(loadH-2) }
		pts := []string{fmt.Sprintf("%.1f,%.1f", c.x0, base)}
		prev := -1
		for i, v := range l.Max {
			if v == prev {
				continue
			}
			x0, _ := c.bucketX(i)
			if prev >= 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x0, y(prev)))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x0, y(v)))
			prev = v
		}
		if prev >= 0 {
			_, x1 := c.bucketX(len(l.Max) - 1)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x1, y(prev)), fmt.Sprintf("%.1f,%.1f", x1, base))
		}
		fmt.Fprintf(&c.fg, "<polygon class=\"load\" points=\"%s\"/>\n", strings.Join(pts, " "))
	}
}

// pageTemplate is the page. It must stay well-formed XML (self-closed
// empty elements, no < or & in the script) for the test that parses it.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{{.Title}}</title>
<style>
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; margin: 16px; background: #fff; }
h1 { font-size: 17px; margin: 0 0 4px; }
code, pre { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
.replay code { background: #f1f3f5; padding: 1px 4px; }
.verdict { font-weight: 600; margin: 6px 0; }
.verdict.ok { color: #2b8a3e; }
.verdict.bad { color: #c92a2a; }
ul.problems { margin: 2px 0 8px; color: #c92a2a; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0; font-size: 12px; }
.legend .group { display: flex; flex-wrap: wrap; gap: 2px 10px; align-items: center; }
.legend .gname { font-weight: 600; color: #495057; }
.legend .item { display: inline-flex; align-items: center; gap: 4px; }
.sw { border: 1px solid #ced4da; }
svg.timeline { display: block; max-width: 100%; height: auto; }
svg.timeline text { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 11px; fill: #212529; }
svg.timeline text.section { font-family: system-ui, sans-serif; font-size: 13px; font-weight: 700; }
svg.timeline text.note { font-family: system-ui, sans-serif; font-size: 11px; fill: #495057; }
svg.timeline text.kind { font-weight: 700; }
svg.timeline text.small, svg.timeline text.figure { font-size: 10px; fill: #343a40; }
svg.timeline text.tick { font-size: 10px; fill: #495057; }
.grid { stroke: #dee2e6; stroke-width: 1; }
.grid.zero { stroke: #868e96; }
.sep { stroke: #ced4da; }
.heal { stroke: ` + finalColor + `; stroke-width: 2; stroke-dasharray: 6 3; }
.lane { fill: #f8f9fa; fill-opacity: 0.6; }
.row { fill: #f8f9fa; fill-opacity: 0.5; }
.bar { stroke: #fff; stroke-width: 0.5; }
.bar.stale, .bar.below { stroke: ` + convergedNo + `; stroke-width: 2; }
.paused { stroke: #212529; stroke-width: 1; stroke-dasharray: 3 2; }
.cgrid { stroke: #adb5bd; stroke-width: 0.6; stroke-dasharray: 1 3; }
.czero { stroke: #495057; stroke-width: 0.8; }
.uband { fill-opacity: 0.6; stroke: none; }
.err { fill: none; stroke: ` + errorColor + `; stroke-width: 1.3; }
.referr { fill: none; stroke: #e67700; stroke-width: 1.3; }
.unsynced { fill: ` + unsynced + `; fill-opacity: 0.6; }
.noref { fill: ` + noRefColor + `; }
.cstale { fill: ` + staleColor + `; }
.load { fill: ` + loadColor + `; fill-opacity: 0.7; stroke: ` + loadColor + `; stroke-width: 0.5; }
table.phases { border-collapse: collapse; margin-top: 10px; }
table.phases td:first-child { text-align: right; color: #495057; }
table.phases td { padding: 1px 8px 1px 0; white-space: pre; font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
table.phases .key { width: 10px; height: 10px; display: inline-block; }
</style>
</head>
<body data-loaded="no">
<h1>{{.Title}}</h1>
<p class="replay">replay: <code>{{.Replay}}</code></p>
{{range .Notes}}<p class="verdict bad">{{.}}</p>
{{end}}{{if .Problems}}<p class="verdict bad">exit status {{.Status}}: {{len .Problems}} problem{{if gt (len .Problems) 1}}s{{end}}</p>
<ul class="problems">{{range .Problems}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p class="verdict ok">exit status {{.Status}}: every property held</p>
{{end}}<div class="legend">{{range .Legend}}<div class="group"><span class="gname">{{.Name}}</span>{{range .Items}}<span class="item">{{.Swatch}}{{.Label}}</span>{{end}}</div>{{end}}</div>
<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{printf "%.0f" .Height}}" viewBox="0 0 {{.Width}} {{printf "%.0f" .Height}}" data-bands="{{.Bands}}">
<defs><pattern id="paused" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#212529" fill-opacity="0.45"/></pattern></defs>
{{.Chart}}</svg>
<table class="phases">{{range .Phases}}<tr><td>{{.N}}</td><td><span class="key" style="background: {{.Color}}"></span></td><td>{{.Line}}</td></tr>{{end}}</table>
<script>
(function () {
  var body = document.body;
  window.onerror = function (msg) { body.setAttribute("data-error", String(msg)); };
  // The page checks itself: the bands drawn, and labels that overlap.
  function overlaps() {
    var texts = document.querySelectorAll("svg.timeline text"), boxes = [], n = 0;
    texts.forEach(function (t) { boxes.push(t.getBBox()); });
    boxes.forEach(function (a, i) {
      boxes.slice(i + 1).forEach(function (b) {
        var w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
        var h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        if (Math.min(w, h) > 1) { n++; }
      });
    });
    return n;
  }
  window.addEventListener("load", function () {
    body.setAttribute("data-bands", String(document.querySelectorAll("svg.timeline rect.band").length));
    body.setAttribute("data-overlaps", String(overlaps()));
    body.setAttribute("data-loaded", "yes");
  });
})();
</script>
</body>
</html>
`))
