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

func newOpCost(s simnet.NetStats, l lockReport) opCost {
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
func (c opCost) line() string {
	if c.Ops == 0 {
		return fmt.Sprintf("no lock operations (all traffic: %d messages, %s)", c.Messages, fmtBytes(float64(c.Bytes)))
	}
	m, b := c.perOp()
	return fmt.Sprintf("%.0f messages, %s per lock operation (all traffic, every workload and gossip: %d messages, %s over %d grants and ends)",
		m, fmtBytes(b), c.Messages, fmtBytes(float64(c.Bytes)), c.Ops)
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

// jsonOpCost is opCost in the -json report.
type jsonOpCost struct {
	// LockOps are the lock operations: grants and their ends.
	LockOps int `json:"lock_ops"`
	// Messages and Bytes are every packet and stream write of the run
	// (gossip and every workload's RPCs), and their bytes.
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	// MessagesPerOp and BytesPerOp divide them by LockOps (0 without
	// any): an upper bound on a lock operation's cost, not its own.
	MessagesPerOp float64 `json:"messages_per_lock_op"`
	BytesPerOp    float64 `json:"bytes_per_lock_op"`
}

func (c opCost) toJSON() jsonOpCost {
	m, b := c.perOp()
	return jsonOpCost{LockOps: c.Ops, Messages: c.Messages, Bytes: c.Bytes, MessagesPerOp: m, BytesPerOp: b}
}
