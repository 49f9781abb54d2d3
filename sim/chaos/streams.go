package chaos

import (
	"fmt"
	"io"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// The event workload: every node publishes to one topic and reads it
// with a subscription of its own from offset 1; the report judges the
// history against S1 and S2. The publishers together publish about
// eventRate events a second, whatever the size of the cluster.
const (
	eventTopic    = "chaos"
	eventRate     = 50
	minEventEvery = 100 * time.Millisecond
)

// eventEvery is how often each of n nodes publishes.
func eventEvery(n int) time.Duration {
	return max(minEventEvery, time.Duration(n)*time.Second/eventRate)
}

// startEvents starts the event workload.
func startEvents(c *sim.Cluster, cfg simConfig) (*sim.EventWorkload, error) {
	return sim.StartEventsWith(c, sim.EventOptions{Topic: eventTopic, Every: eventEvery(cfg.Nodes), Unsafe: cfg.Unsafe})
}

// eventRecord is what the event workload recorded, judged.
type eventRecord struct {
	Every   time.Duration
	Unsafe  bool // the readers did not keep their place
	Verdict check.EventVerdict
}

func newEventRecord(h check.EventHistory, every time.Duration, unsafe bool) eventRecord {
	return eventRecord{Every: every, Unsafe: unsafe, Verdict: check.CheckEvents(h)}
}

// EventReport is what the event workload recorded: every node publishes
// to Topic every PublishEvery and reads it with a subscription of its
// own.
type EventReport struct {
	Topic        string      `json:"topic"`
	Readers      string      `json:"readers"` // "keep their place", or in -unsafe "UNSAFE: resume at Latest"
	PublishEvery Duration    `json:"publish_every"`
	Published    int         `json:"published"` // publications that returned an offset
	Failed       int         `json:"failed"`    // that returned an error: outcome unknown
	Delivered    int         `json:"delivered"` // over every subscription
	Truncations  int         `json:"truncations"`
	Latency      Percentiles `json:"publish_latency"`
}

func (e *eventRecord) summary() EventReport {
	v := e.Verdict
	readers := "keep their place"
	if e.Unsafe {
		readers = "UNSAFE: resume at Latest"
	}
	return EventReport{Topic: eventTopic, Readers: readers, PublishEvery: Duration(e.Every), Published: v.Published, Failed: v.Failed,
		Delivered: v.Delivered, Truncations: v.Truncation, Latency: Percentiles{Duration(v.P50), Duration(v.P99)}}
}

// print writes the events section of the report, aligned by tw.
func (e *EventReport) print(tw io.Writer) {
	fmt.Fprintf(tw, "events\ttopic %q, every node publishing every %s, readers %s: %d published (%d failed), %d delivered, publish p50 %s, p99 %s\n",
		e.Topic, fmtDur(e.PublishEvery.Std()), e.Readers, e.Published, e.Failed, e.Delivered, fmtFine(e.Latency.P50.Std()), fmtFine(e.Latency.P99.Std()))
}

// properties judges S1 and S2; S1 includes S4's start at offset 1 (the
// subscriptions read from there).
func (e *eventRecord) properties() []Property {
	v := e.Verdict
	some := v.Published > 0 && v.Delivered > 0
	return []Property{
		judge("S1", "every subscriber sees one order, no gap, no duplicate", some, joined(v.S1, v.S4),
			fmt.Sprintf("%d events delivered over the subscriptions, %d truncations", v.Delivered, v.Truncation)),
		judge("S2", "no published event is lost", some, v.S2,
			fmt.Sprintf("%d published (%d failed: outcome unknown), p50 %s, p99 %s", v.Published, v.Failed, fmtFine(v.P50), fmtFine(v.P99))),
	}
}

// joined is a and b as one list of violations.
func joined(a, b check.Violations) check.Violations {
	return check.Violations{N: a.N + b.N, First: append(append([]string(nil), a.First...), b.First...)}
}
