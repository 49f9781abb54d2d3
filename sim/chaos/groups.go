package chaos

import (
	"fmt"
	"io"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// The consumer group workload: every node runs a member of one group
// on the event workload's topic, which acks most events it is handed,
// nacks some and leaves some unsettled (sim.GroupWorkload). The
// publishers stop at the final heal, and the group has until groupQuiet
// after that to be done with every acknowledged event; the report
// judges its history against S3 (check.CheckGroup).
const (
	groupName          = "workers"
	groupAckWait       = time.Second
	groupMaxDeliveries = 5
	groupQuiet         = 10 * time.Second
	// groupMargin is what a deadline may be off by, besides the
	// leaders' clocks' rate: the fetch's round trip, and a held read
	// that misses the redelivery by a poll.
	groupMargin = 250 * time.Millisecond
)

// startGroups starts the group workload on the event workload's topic.
func startGroups(c *sim.Cluster, evs *sim.EventWorkload, cfg simConfig) (*sim.GroupWorkload, error) {
	return sim.StartGroupEvents(c, evs, sim.GroupOptions{Group: groupName, AckWait: groupAckWait, MaxDeliveries: groupMaxDeliveries, Seed: cfg.Seed})
}

// groupRecord is what the group workload recorded, judged.
type groupRecord struct {
	Verdict check.GroupVerdict
}

// newGroupRecord judges h. The deadlines run on the log's time, which
// goes at the leaders' clocks' rate: drift (ppm) moves a deadline by up
// to twice that share of AckWait against the time the checker reads.
func newGroupRecord(h check.GroupHistory, drift float64) groupRecord {
	margin := groupMargin + time.Duration(2*drift/1e6*float64(groupAckWait))
	return groupRecord{Verdict: check.CheckGroup(h, margin)}
}

// GroupReport is what the consumer group recorded: a member on every
// node, AckWait and MaxDeliveries as configured.
type GroupReport struct {
	Group         string   `json:"group"`
	AckWait       Duration `json:"ack_wait"`
	MaxDeliveries int      `json:"max_deliveries"`
	Delivered     int      `json:"delivered"`   // deliveries to members
	Redelivered   int      `json:"redelivered"` // of which a second or later
	Acked         int      `json:"acked"`
	Nacked        int      `json:"nacked"`
	Unsettled     int      `json:"unsettled"` // left unsettled by design
	Exhausted     int      `json:"exhausted"` // offsets handed out MaxDeliveries times, never acked
	Hidden        int      `json:"hidden"`    // hand-outs no member saw
}

func (g *groupRecord) summary() GroupReport {
	v := g.Verdict
	return GroupReport{Group: groupName, AckWait: Duration(groupAckWait), MaxDeliveries: groupMaxDeliveries, Delivered: v.Delivered,
		Redelivered: v.Redelivered, Acked: v.Acked, Nacked: v.Nacked, Unsettled: v.Ignored, Exhausted: v.Exhausted, Hidden: v.Hidden}
}

// print writes the group section of the report, aligned by tw.
func (g *GroupReport) print(tw io.Writer) {
	fmt.Fprintf(tw, "consumer group\t%q, a member per node, AckWait %s, MaxDeliveries %d: %d delivered (%d again), %d acked, %d nacked, %d left unsettled, %d exhausted, %d hidden\n",
		g.Group, fmtDur(g.AckWait.Std()), g.MaxDeliveries, g.Delivered, g.Redelivered, g.Acked, g.Nacked, g.Unsettled, g.Exhausted, g.Hidden)
}

// property judges S3.
func (g *groupRecord) property() Property {
	v := g.Verdict
	bad := joined(joined(v.Overlap, v.Count), joined(v.Lost, v.AfterAck))
	return judge("S3", "a group hands an event to one member at a time, again after AckWait, until acked", v.Delivered > 0, bad,
		fmt.Sprintf("%d delivered, %d again, %d acked, %d exhausted, %d hidden", v.Delivered, v.Redelivered, v.Acked, v.Exhausted, v.Hidden))
}
