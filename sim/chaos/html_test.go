package chaos

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// oddNode is a node name that must be escaped wherever it shows.
const oddNode = `n<4>&"x"`

// syntheticReport returns the report of a made-up 15 s run of four nodes:
// a partition and its heal, a crash of the leader, a pause of a lock
// holder and a fault of a kind the page does not know, then the final
// heal; leases, grants (one paused, one stale), executions and clock
// readings along. It returns the number of bands the page must draw.
func syntheticReport() (*record, int) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	at := func(s float64) time.Time { return start.Add(sec(s)) }
	nodes := []string{"n1", "n2", "n3", oddNode}
	ph := func(f fault, from, length float64, took float64, ok bool) phaseResult {
		return phaseResult{phase: phase{Fault: f, Start: sec(from), Length: sec(length)}, At: sec(from), Converged: ok, Took: sec(took)}
	}
	phases := []phaseResult{
		ph(faultPartition, 0, 3, 0.4, true),
		ph(faultHeal, 3, 3, 0.2, true),
		ph(faultCrash, 6, 3, 0.6, true),
		ph(faultPause, 9, 3, 0.3, true),
		ph("meteor", 12, 3, 3, false),
	}
	phases[0].Majority, phases[0].Minority = []string{"n1", "n2", "n3"}, []string{oddNode}
	phases[2].Node, phases[2].LeaderCrash, phases[2].At, phases[2].CrashedAt = "n1", true, sec(6.2), at(6.2)
	phases[3].Node, phases[3].Pause = "n2", sec(2)
	leases := []check.LeaseRecord{
		{Group: electionGroup, Node: "n1", Term: 1, Start: at(-1.5), End: at(6.2)},
		{Group: electionGroup, Node: "n2", Term: 2, Start: at(7.4), End: at(9)},
		{Group: electionGroup, Node: oddNode, Term: 3, Start: at(11.5)}, // still held
	}
	grants := []check.Grant{
		{ID: "lock-0", Token: 1, Node: "n1", Called: at(-0.5), Start: at(-0.4), End: at(1)},
		{ID: "lock-0", Token: 2, Node: "n2", Called: at(0.9), Start: at(1.2), End: at(4)},
		{ID: "lock-0", Token: 3, Node: "n2", Called: at(8.8), Start: at(9), End: at(11.2), Paused: true},
		{ID: "lock-0", Token: 4, Node: "n3", Called: at(10), Start: at(10.5), End: at(12), Stale: true}, // overlaps the paused hold
		{ID: "lock-1", Token: 1, Node: oddNode, Called: at(2), Start: at(2.1), End: at(5)},
		{ID: "lock-1", Token: 2, Node: "n3", Called: at(5), Start: at(5.5)}, // still held
	}
	var execs []check.Execution
	var points []check.ClockPoint
	for i := range 160 {
		s := -1 + float64(i)/10
		for k, n := range nodes {
			if n == "n1" && s >= 6.2 && s < 15 { // crashed
				continue
			}
			execs = append(execs, check.Execution{Task: fmt.Sprint(i), Node: n, Start: at(s), End: at(s + 0.05*float64(k+1))})
			p := check.ClockPoint{Node: n, At: at(s), State: check.ClockJudged,
				Error: time.Duration(float64(200*time.Microsecond) * float64(k-1) * (1 + 0.5*float64(i%7))), Uncertainty: time.Millisecond}
			switch {
			case s < 0:
				p = check.ClockPoint{Node: n, At: at(s), State: check.ClockUnsynced}
			case n == "n2":
				p.State, p.Error, p.Uncertainty = check.ClockReference, 0, 20*time.Microsecond
			case n == "n3" && s > 7 && s < 7.5:
				p.State, p.Error = check.ClockStale, 0
			}
			points = append(points, p)
		}
	}
	tl := newTimeline(start, at(16), at(15), nodes, leases, grants, execs, points)
	rep := &record{
		Config:         simConfig{Nodes: 4, Duration: 15 * time.Second, Seed: 7},
		Phases:         phases,
		FinalConverged: true,
		FinalTook:      sec(0.3),
		Election:       electionRecord{Leases: leases},
		Voters:         syntheticVoters(3),
		Timeline:       tl,
	}
	rep.Config.Scenario.Name = "all"
	// The bands: one per phase, before the schedule and after the heal.
	return rep, len(phases) + 2
}

// element is a parsed XML element.
type element struct {
	name  string
	attr  map[string]string
	text  string // its own and its children's character data
	kids  []*element
	outer *element
}

// parseXML parses the page as XML, strictly: it must be well-formed.
func parseXML(t *testing.T, page string) *element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	root := &element{name: "#document"}
	cur := root
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: tok.Name.Local, attr: map[string]string{}, outer: cur}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			cur.kids = append(cur.kids, e)
			cur = e
		case xml.EndElement:
			cur = cur.outer
		case xml.CharData:
			for e := cur; e != nil; e = e.outer {
				e.text += string(tok)
			}
		}
	}
	return root
}

// all returns the elements below e for which keep is true, in order.
func (e *element) all(keep func(*element) bool) []*element {
	var out []*element
	for _, k := range e.kids {
		if keep(k) {
			out = append(out, k)
		}
		out = append(out, k.all(keep)...)
	}
	return out
}

func named(name string) func(*element) bool {
	return func(e *element) bool { return e.name == name }
}

func hasClass(name, class string) func(*element) bool {
	return func(e *element) bool {
		return e.name == name && strings.Contains(" "+e.attr["class"]+" ", " "+class+" ")
	}
}

func renderPage(t *testing.T, rep *record) string {
	t.Helper()
	var buf bytes.Buffer
	if err := summarize(rep).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The page parses as XML, holds one SVG with a band per phase and a lane
// per lock id, names every node, and shows the verdict; every text from
// the run is escaped.
func TestHTMLPage(t *testing.T) {
	rep, bands := syntheticReport()
	page := renderPage(t, rep)
	if strings.Contains(page, oddNode) {
		t.Errorf("the page holds the node name %q unescaped", oddNode)
	}
	for _, banned := range []string{"http://", "https://", "<link", "@import", "url(http", " src="} {
		if banned == "http://" {
			// the SVG namespace is a name, not a fetch
			if strings.Count(page, "http://") != strings.Count(page, "http://www.w3.org/2000/svg") {
				t.Errorf("the page refers to an outside address")
			}
			continue
		}
		if strings.Contains(page, banned) {
			t.Errorf("the page is not self-contained: it holds %q", banned)
		}
	}
	root := parseXML(t, page)
	if n := len(root.all(named("script"))); n != 1 {
		t.Errorf("%d script elements, want 1", n)
	}
	title := root.all(named("title"))[0].text
	for _, want := range []string{"seed 7", "scenario all", "4 nodes"} {
		if !strings.Contains(title, want) {
			t.Errorf("title %q lacks %q", title, want)
		}
	}
	body := root.all(named("body"))[0].text
	if replay := replayCommand(rep.Config); !strings.Contains(body, replay) {
		t.Errorf("the page lacks the replay command %q", replay)
	}
	problems := summarize(rep).Problems
	for _, p := range problems {
		if !strings.Contains(body, p) {
			t.Errorf("the page lacks the problem %q", p)
		}
	}
	if len(problems) == 0 && !strings.Contains(body, "every property held") {
		t.Errorf("the page lacks the verdict")
	}

	svgs := root.all(hasClass("svg", "timeline"))
	if len(svgs) != 1 {
		t.Fatalf("%d timeline SVGs, want 1", len(svgs))
	}
	svg := svgs[0]
	if got := len(svg.all(hasClass("rect", "band"))); got != bands {
		t.Errorf("%d bands, want %d", got, bands)
	}
	if got := svg.attr["data-bands"]; got != strconv.Itoa(bands) {
		t.Errorf("data-bands = %q, want %d", got, bands)
	}
	var texts []string
	for _, e := range svg.all(named("text")) {
		texts = append(texts, e.text)
	}
	shown := "\n" + strings.Join(texts, "\n") + "\n"
	for _, want := range []string{"partition", "heal", "crash", "pause", "meteor", "final heal", "election", "voters", "configuration", "30: n1 n2 n3", "20\n", "locks", "clocks", "tasks",
		"lock-0", "lock-1", "n1", oddNode, "n1 term 1", "n2/2", "0s", "5s", "10s"} {
		if !strings.Contains(shown, "\n"+want) {
			t.Errorf("no SVG text starts with %q; texts:%s", want, shown)
		}
	}
	// The node names on the left: one per node in each of clocks and tasks.
	left := map[string]int{}
	for _, e := range svg.all(hasClass("text", "name")) {
		left[e.text]++
	}
	for _, n := range rep.Timeline.Nodes {
		if left[n] != 2 {
			t.Errorf("node %q is named %d times at the left, want 2", n, left[n])
		}
	}
	// Every lease and hold is a bar with a tooltip; the paused hold is
	// hatched, the stale one outlined; the overlapping holds of lock-0
	// take two sub-rows.
	if got, want := len(svg.all(hasClass("rect", "bar"))), len(rep.Election.Leases)+len(rep.Voters.Changes)+len(rep.Timeline.Grants); got != want {
		t.Errorf("%d bars, want %d", got, want)
	}
	if got := len(svg.all(hasClass("rect", "below"))); got != 2 {
		t.Errorf("%d configurations below the target, want 2", got)
	}
	if got := len(svg.all(hasClass("rect", "paused"))); got != 1 {
		t.Errorf("%d paused marks, want 1", got)
	}
	if got := len(svg.all(hasClass("rect", "stale"))); got != 1 {
		t.Errorf("%d stale bars, want 1", got)
	}
	var tips []string
	for _, e := range svg.all(named("title")) {
		tips = append(tips, e.text)
	}
	for _, want := range []string{"lock-0 token 3: held by n2 from 9.0s to 11.2s", "the holder was paused", "refused as stale",
		`group "sim": ` + oddNode + " leads in term 3 from 11.5s still held at the end", oddNode + " cut off (partition, minority side)",
		"n1 down (crashed) from 6.2s to 15.0s", "n2 frozen (pause) from 9.0s to 11.0s",
		"from 0.0s to 1.0s: group abc, epoch 20, voters n1 n2 n3 n4 n5 (target 5), voters' leader n2"} {
		if !strings.Contains(strings.Join(tips, "\n"), want) {
			t.Errorf("no tooltip holds %q", want)
		}
	}
	// The unknown kind gets the default colour; the band of each known
	// kind its own.
	fills := map[string]bool{}
	for _, e := range svg.all(hasClass("rect", "band")) {
		fills[e.attr["fill"]] = true
	}
	for _, f := range []fault{faultPartition, faultHeal, faultCrash, faultPause, "meteor"} {
		if !fills[faultColor(f)] {
			t.Errorf("no band has the colour of %s, %s", f, faultColor(f))
		}
	}
	if faultColor("meteor") != otherFault {
		t.Errorf("an unknown kind of fault is coloured %s, want %s", faultColor("meteor"), otherFault)
	}
	// The clock rows draw an error line per run of judged readings and the
	// reference's; the tasks rows a step chart per node.
	if len(svg.all(hasClass("polyline", "err"))) == 0 || len(svg.all(hasClass("polyline", "referr"))) == 0 {
		t.Errorf("no error line of a judged clock or of the reference")
	}
	if got := len(svg.all(hasClass("polygon", "load"))); got != len(rep.Timeline.Nodes) {
		t.Errorf("%d task charts, want %d", got, len(rep.Timeline.Nodes))
	}
	// Everything lies within the drawing.
	height, _ := strconv.ParseFloat(svg.attr["height"], 64)
	for _, r := range svg.all(named("rect")) {
		x, _ := strconv.ParseFloat(r.attr["x"], 64)
		y, _ := strconv.ParseFloat(r.attr["y"], 64)
		w, _ := strconv.ParseFloat(r.attr["width"], 64)
		h, _ := strconv.ParseFloat(r.attr["height"], 64)
		if x < 0 || y < 0 || x+w > pageWidth+0.5 || y+h > height+0.5 {
			t.Errorf("a rect lies outside the %vx%v drawing: x %v y %v w %v h %v", pageWidth, height, x, y, w, h)
			break
		}
	}
	// The legend names the kinds of fault that occurred.
	for _, l := range root.all(hasClass("div", "legend")) {
		if !strings.Contains(l.text, "meteor") || !strings.Contains(l.text, "partition") || !strings.Contains(l.text, "fewer voters than the target") {
			t.Errorf("the legend %q lacks a kind of fault", l.text)
		}
	}
}

// newTimeline counts the Runs in flight and sums up the clock readings
// per bucket, bridging a bucket that a tick of the observer missed.
func TestTimelineBuckets(t *testing.T) {
	start := time.Unix(1000, 0)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	execs := []check.Execution{
		{Node: "n1", Start: ms(20), End: ms(500)},
		{Node: "n1", Start: ms(40), End: ms(60)},
		{Node: "n1", Start: ms(60), End: ms(80)}, // starts as the one before ends
		{Node: "n2", Start: ms(300)},             // still running
	}
	points := []check.ClockPoint{
		{Node: "n1", At: ms(20), State: check.ClockJudged, Error: 2 * time.Millisecond, Uncertainty: time.Millisecond},
		{Node: "n1", At: ms(100), State: check.ClockJudged, Error: -3 * time.Millisecond, Uncertainty: time.Millisecond},
		{Node: "n1", At: ms(300), State: check.ClockUnsynced},
		{Node: "n2", At: ms(20), State: check.ClockReference, Uncertainty: 5 * time.Microsecond},
		{Node: "n2", At: ms(420), State: check.ClockReference, Uncertainty: 5 * time.Microsecond},
	}
	tl := newTimeline(start, ms(790), time.Time{}, []string{"n2", "n1"}, nil, nil, execs, points)
	if tl.Begin != 0 || tl.Step != 200*time.Millisecond || len(tl.Nodes) != 2 || tl.Nodes[0] != "n1" {
		t.Fatalf("timeline begins at %v with step %v and nodes %v; want 0, 200ms, [n1 n2]", tl.Begin, tl.Step, tl.Nodes)
	}
	if got, want := fmt.Sprint(tl.Load[0].Max, tl.Load[1].Max), "[2 1 1 0] [0 1 1 1]"; got != want {
		t.Errorf("tasks in flight per bucket = %s, want %s", got, want)
	}
	b := tl.Clocks[0].Buckets
	if b[0].N != 2 || b[0].State != check.ClockJudged || b[0].Error != -3*time.Millisecond || b[0].Lo != -4*time.Millisecond || b[0].Hi != 3*time.Millisecond {
		t.Errorf("n1's first bucket = %+v, want 2 judged readings, error -3ms, from -4ms to 3ms", b[0])
	}
	if b[1].N != 1 || b[1].State != check.ClockUnsynced || b[2].N != 0 || b[3].N != 0 {
		t.Errorf("n1's buckets 1 to 3 = %+v, %+v, %+v; want one unsynced reading, then none", b[1], b[2], b[3])
	}
	for i, r := range tl.Clocks[1].Buckets[:3] {
		if r.State != check.ClockReference || r.Lo != -5*time.Microsecond || r.Hi != 5*time.Microsecond {
			t.Errorf("n2's bucket %d = %+v, want the reference's ±5µs", i, r)
		}
	}
}

// The observer keeps at most maxJudged observations for the timeline,
// spread over the whole run, in order.
func TestObserverKeepsBoundedSeries(t *testing.T) {
	o := &observer{}
	t0 := time.Unix(1000, 0)
	const n = 3*maxJudged + 7
	for i := range n {
		at := t0.Add(time.Duration(i) * observeEvery)
		o.keepJudged([]check.Reading{{Node: "n1", At: at, Done: at, Err: errors.New("unsynced")}})
	}
	got := o.series()
	if len(got) > maxJudged || len(got) < maxJudged/4 {
		t.Fatalf("kept %d of %d observations, want at most %d and at least a quarter of that", len(got), n, maxJudged)
	}
	for i := 1; i < len(got); i++ {
		if !got[i].At.After(got[i-1].At) {
			t.Fatalf("kept observations out of order at %d: %v after %v", i, got[i].At, got[i-1].At)
		}
	}
	if last := got[len(got)-1].At; last.Before(t0.Add((n - 1 - 2*time.Duration(o.keep)) * observeEvery)) {
		t.Errorf("the last observation kept is at %v, long before the last one made", last)
	}
}

// The page loads in a headless Chromium without a script error, with
// every band drawn and no two labels overlapping, as its own script
// reports into the DOM.
func TestHTMLInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	rep, bands := syntheticReport()
	file := filepath.Join(t.TempDir(), "timeline.html")
	if err := os.WriteFile(file, []byte(renderPage(t, rep)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	tag := regexp.MustCompile(`<body[^>]*>`).FindString(string(dom))
	if tag == "" {
		t.Fatalf("no body in the DOM chromium dumped:\n%.2000s\nstderr:\n%s", dom, stderr.String())
	}
	attr := func(name string) (string, bool) {
		m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	if v, _ := attr("data-loaded"); v != "yes" {
		t.Errorf("the page did not finish loading: %s", tag)
	}
	if v, ok := attr("data-error"); ok {
		t.Errorf("the page's script failed: %s", v)
	}
	if v, _ := attr("data-bands"); v != strconv.Itoa(bands) {
		t.Errorf("the browser sees %s bands, want %d", v, bands)
	}
	if v, _ := attr("data-overlaps"); v != "0" {
		t.Errorf("%s pairs of labels overlap in the browser", v)
	}
}
