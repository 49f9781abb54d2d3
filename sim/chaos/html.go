package chaos

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// The -html page: one self-contained file (inline SVG, CSS and a few lines
// of script, nothing fetched) with the run on one time axis, in seconds
// from the start of the schedule: the faults as bands over the whole
// chart, the election leases, the voter configuration, the lock holds, each node's clock error
// with its uncertainty, each node's tasks in flight and its acknowledged
// and failed Publishes, and the event subscriptions' lag. Every text that
// comes from the run is escaped; the page is also well-formed XML, so
// that a test can parse it without an HTML parser.

// writeHTML writes the page of r, whose Report is rep.
func (r *record) writeHTML(w io.Writer, rep *Report) error {
	return pageTemplate.Execute(w, newPage(r, rep))
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

func newPage(r *record, rep *Report) page {
	c := newChart(r)
	c.draw()
	p := page{
		Title:    pageTitle(r),
		Replay:   rep.Replay,
		Problems: rep.Problems,
		Status:   rep.ExitStatus,
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
func pageTitle(r *record) string {
	c := r.Config
	s := fmt.Sprintf("gossipsync sim: seed %d, scenario %s, %d nodes, duration %v", c.Seed, c.Scenario.Name, c.Nodes, c.Duration)
	if c.Unsafe {
		s += ", UNSAFE locks and event readers"
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
	eventColor  = "#20c997"
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
	case faultRestart, faultRestartAll:
		return "#1c7ed6"
	case faultOutage:
		return "#c92a2a"
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
	r      *record
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

func newChart(r *record) *chart {
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
	c.events()
	c.user()
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
