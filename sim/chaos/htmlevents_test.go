package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// The events section counts each node's publications per bucket, the
// longest lag of the deliveries in each, and the deliveries that skipped
// offsets without a truncation to say so; the page draws them.
func TestEventTimeline(t *testing.T) {
	rep, _ := syntheticReport()
	tl := rep.Timeline
	at := func(s float64) time.Time { return tl.Start.Add(time.Duration(s * float64(time.Second))) }
	node := tl.Nodes[0]
	h := check.EventHistory{
		Publications: []check.Publication{
			{Node: node, Payload: "a", Offset: 1, OK: true, Called: at(1), Done: at(1.01)},
			{Node: node, Payload: "b", Offset: 2, OK: true, Called: at(1.02), Done: at(1.05)},
			{Node: node, Payload: "x", Called: at(2), Done: at(5)}, // failed
			{Node: node, Payload: "c", Offset: 4, OK: true, Called: at(9), Done: at(9.01)},
			{Node: node, Payload: "d", Offset: 7, OK: true, Called: at(9.5), Done: at(9.51)},
		},
		Subscriptions: []check.SubscriptionRecord{{
			Name: "s", From: 1,
			Deliveries: []check.Delivery{
				{Offset: 1, Payload: "a", At: at(1.02)},
				{Offset: 2, Payload: "b", At: at(3.05)}, // 2 s late
				{Offset: 4, Payload: "c", At: at(9.02)}, // skipped 3: a gap
				{Offset: 7, Payload: "d", At: at(9.52)}, // skipped 5 and 6, as reported
			},
			Truncated: []check.Truncation{{Before: 3, Lost: 6}},
		}},
	}
	n := tl.buckets()
	et := eventBuckets(tl, n, h)
	l := et.Nodes[0]
	if l.Node != node || l.Total != 4 || l.Failing != 1 || l.Acked[tl.bucket(at(1.01), n)] != 2 || l.Failed[tl.bucket(at(5), n)] != 1 {
		t.Errorf("%s's publications: %+v; want 4 acked (2 in the bucket of 1s), 1 failed (at 5s)", node, l)
	}
	if lag := et.Lag[tl.bucket(at(3.05), n)]; lag != 2*time.Second {
		t.Errorf("lag in the bucket of 3.05s = %v, want 2s", lag)
	}
	gaps := 0
	for i, g := range et.Gaps {
		gaps += g
		if g > 0 && i != tl.bucket(at(9.02), n) {
			t.Errorf("a gap in bucket %d, want one only in that of 9.02s", i)
		}
	}
	if gaps != 1 {
		t.Errorf("%d gaps, want 1 (the reported truncation is none)", gaps)
	}

	rep.Timeline.Events = et
	root := parseXML(t, renderPage(t, rep))
	var sections []string
	for _, e := range root.all(hasClass("text", "section")) {
		sections = append(sections, e.text)
	}
	if fmt.Sprint(sections[len(sections)-1]) != "events" {
		t.Errorf("sections %v, want events last", sections)
	}
	if n := len(root.all(hasClass("rect", "evgap"))); n != 1 {
		t.Errorf("%d gap marks, want 1", n)
	}
	if n := len(root.all(hasClass("rect", "evfail"))); n != 1 {
		t.Errorf("%d failed-publish marks, want 1", n)
	}
}
