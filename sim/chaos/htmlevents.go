package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// The -html page's events section: each node's publications per bucket
// and, in one row, how late the subscriptions read them.

// eventTimeline is the event workload on the timeline's buckets.
type eventTimeline struct {
	Nodes []eventLoad     // per node, in the order of the timeline's Nodes
	Lag   []time.Duration // per bucket, the longest lag of its deliveries: from the Publish's return, or the subscription's first read if later
	Gaps  []int           // per bucket, deliveries that skipped offsets no truncation reported
}

// eventLoad is one node's publications, per bucket of their return.
type eventLoad struct {
	Node           string
	Acked, Failed  []int
	Total, Failing int
}

// eventBuckets sums up h in the n buckets of tl.
func eventBuckets(tl timeline, n int, h check.EventHistory) eventTimeline {
	et := eventTimeline{Lag: make([]time.Duration, n), Gaps: make([]int, n)}
	byNode := map[string]*eventLoad{}
	for _, node := range tl.Nodes {
		et.Nodes = append(et.Nodes, eventLoad{Node: node, Acked: make([]int, n), Failed: make([]int, n)})
	}
	for i := range et.Nodes {
		byNode[et.Nodes[i].Node] = &et.Nodes[i]
	}
	done := map[string]time.Time{} // payload → when its Publish returned, or was called if it failed
	for _, p := range h.Publications {
		l := byNode[p.Node]
		if l == nil {
			continue
		}
		b := tl.bucket(p.Done, n)
		if p.OK {
			l.Acked[b]++
			l.Total++
			done[p.Payload] = p.Done
		} else {
			l.Failed[b]++
			l.Failing++
			done[p.Payload] = p.Called
		}
	}
	for _, s := range h.Subscriptions {
		var prev uint64
		for i, d := range s.Deliveries {
			b := tl.bucket(d.At, n)
			// From the later of the Publish's return and the first read
			// of the subscription, so that a replay is no lag.
			if at, ok := done[d.Payload]; ok {
				from := later(at, s.Deliveries[0].At)
				et.Lag[b] = max(et.Lag[b], d.At.Sub(from))
			}
			reported := slices.ContainsFunc(s.Truncated, func(t check.Truncation) bool { return t.Before == i })
			if i > 0 && d.Offset != prev+1 && !reported {
				et.Gaps[b]++
			}
			prev = d.Offset
		}
	}
	return et
}

// events writes a row per node with its publications and a row of the
// subscriptions' lag.
func (c *chart) events() {
	et := c.tl.Events
	most := 1
	for _, l := range et.Nodes {
		most = max(most, slices.Max(append([]int{0}, l.Acked...)))
	}
	c.heading("events", fmt.Sprintf("Publishes acknowledged per %s on each node (rows span 0 to %d), failed ones in red; lag: the longest wait of a delivery", fmtDur(c.tl.Step), most))
	for _, l := range et.Nodes {
		top := c.nodeRow(l.Node, loadH, fmt.Sprintf("%d ok %d✗", l.Total, l.Failing), fmt.Sprintf("%s: %d publications acknowledged, %d failed (outcome unknown)", l.Node, l.Total, l.Failing))
		c.area(top, l.Acked, most, "evload")
		for i, f := range l.Failed {
			if f > 0 {
				x0, x1 := c.bucketX(i)
				tipRect(&c.fg, x0, top, max(x1-x0, 1.5), loadH, `class="evfail"`, fmt.Sprintf("%s: %d Publish calls failed here", l.Node, f))
			}
		}
	}
	var worst time.Duration
	lags := make([]int, len(et.Lag)) // in ms, for the area
	for i, d := range et.Lag {
		worst = max(worst, d)
		lags[i] = int(d.Milliseconds())
	}
	gaps := 0
	for _, g := range et.Gaps {
		gaps += g
	}
	right := "max lag " + fmtDur(worst)
	if gaps > 0 {
		right = fmt.Sprintf("%d gaps", gaps)
	}
	y := c.y
	text(&c.fg, c.x0-8, y+loadH/2+4, `class="name" text-anchor="end"`, "lag")
	tipRect(&c.fg, c.x0, y, c.x1-c.x0, loadH, `class="row"`, fmt.Sprintf("the longest publish-to-delivery lag per %s: at most %s", fmtDur(c.tl.Step), fmtDur(worst)))
	text(&c.fg, c.x1+6, y+loadH/2+4, `class="figure"`, right)
	c.y += loadH + rowGap
	c.area(y, lags, max(1, int(worst.Milliseconds())), "evload")
	for i, g := range et.Gaps {
		if g > 0 {
			x0, x1 := c.bucketX(i)
			tipRect(&c.fg, x0, y, max(x1-x0, 1.5), loadH, `class="evgap"`, fmt.Sprintf("%d deliveries skipped offsets (S1)", g))
		}
	}
}

// area writes values, one per bucket, as a filled step line of class in
// the row of height loadH at top, scaled so that most fills it.
func (c *chart) area(top float64, values []int, most int, class string) {
	base := top + loadH
	y := func(v int) float64 { return base - float64(v)/float64(most)*(loadH-2) }
	pts := []string{fmt.Sprintf("%.1f,%.1f", c.x0, base)}
	prev := -1
	for i, v := range values {
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
		_, x1 := c.bucketX(len(values) - 1)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x1, y(prev)), fmt.Sprintf("%.1f,%.1f", x1, base))
	}
	fmt.Fprintf(&c.fg, "<polygon class=\"%s\" points=\"%s\"/>\n", class, strings.Join(pts, " "))
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
