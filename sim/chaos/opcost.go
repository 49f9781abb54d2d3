package chaos

import (
	"fmt"

	"github.com/gossipsync/gossipsync/sim/simnet"
)

// opCost is what the simulated network carried per lock operation: every
// packet and stream write of the run (gossip, the RPCs of every workload:
// elections, clocks, tasks and locks) over the lock operations, grants
// and their ends. It is an upper bound on a lock operation's cost, not
// its own cost, and it grows with the other workloads; compare runs of
// one scenario at different sizes.
type opCost struct {
	Ops      int    // grants and their ends
	Messages uint64 // packets sent and stream writes
	Bytes    uint64 // their bytes
}

func newOpCost(s simnet.NetStats, l lockRecord) opCost {
	return opCost{Ops: l.Verdict.Grants + l.Ended, Messages: s.PacketsSent + s.StreamWrites, Bytes: s.PacketBytes + s.StreamBytes}
}

// perOp returns the messages and bytes per operation (0 without any).
func (c opCost) perOp() (messages, bytes float64) {
	if c.Ops == 0 {
		return 0, 0
	}
	return float64(c.Messages) / float64(c.Ops), float64(c.Bytes) / float64(c.Ops)
}

// line is the report's figure: "812 messages, 96.1 kB per lock
// operation (all traffic: 513,000 messages, 60.7 MB over 632 grants and
// ends)".
func (c OpCost) line() string {
	if c.LockOps == 0 {
		return fmt.Sprintf("no lock operations (all traffic: %d messages, %s)", c.Messages, fmtBytes(float64(c.Bytes)))
	}
	return fmt.Sprintf("%.0f messages, %s per lock operation (all traffic, every workload and gossip: %d messages, %s over %d grants and ends)",
		c.MessagesPerOp, fmtBytes(c.BytesPerOp), c.Messages, fmtBytes(float64(c.Bytes)), c.LockOps)
}

// fmtBytes formats a byte count for people: 812 B, 96.1 kB, 60.7 MB.
func fmtBytes(b float64) string {
	switch {
	case b < 1e3:
		return fmt.Sprintf("%.0f B", b)
	case b < 1e6:
		return fmt.Sprintf("%.1f kB", b/1e3)
	case b < 1e9:
		return fmt.Sprintf("%.1f MB", b/1e6)
	}
	return fmt.Sprintf("%.1f GB", b/1e9)
}

func (c opCost) summary() OpCost {
	m, b := c.perOp()
	return OpCost{LockOps: c.Ops, Messages: c.Messages, Bytes: c.Bytes, MessagesPerOp: m, BytesPerOp: b}
}
