package cluster

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/stats"
)

// Stats is a snapshot of a node's figures for monitoring (package
// metrics turns it into Prometheus metrics). Members and HealthScore are
// read at the call; the RPC counters count since New.
type Stats struct {
	// Members counts the members this node knows of by state: "alive",
	// "leaving", "left" and "failed" (serf's states; every key is
	// present). Suspicion is memberlist's and does not show here: a
	// suspected member is alive until it is declared failed.
	Members map[string]int
	// HealthScore is memberlist's awareness of this node's own health:
	// 0 is healthy, and each missed probe or refuted suspicion raises it
	// (up to the profile's AwarenessMaxMultiplier - 1), which slows this
	// node's probes so that a node that is itself overloaded does not
	// declare others failed.
	HealthScore int
	// QuorumSize is QuorumSize: the members that make a majority.
	QuorumSize int
	// RPC holds, per method this node called (Call, and CallAll's calls),
	// its calls, sorted by method. Past 64 methods, the calls of the
	// others count together under the method "other".
	RPC []MethodStats
}

// MethodStats counts the calls of one RPC method made by this node.
type MethodStats struct {
	Method  string
	Calls   uint64         // calls that ended
	Errors  uint64         // those that returned an error (the remote handler's, a lost connection, the caller's deadline)
	Latency stats.Snapshot // how long each call took, errors included
}

// The member states of Stats.Members.
const (
	StateAlive   = "alive"
	StateLeaving = "leaving"
	StateLeft    = "left"
	StateFailed  = "failed"
)

// Stats returns the node's figures now. It reads serf's member list
// (one lock of serf, a copy of no tags) and the RPC counters; call it
// for monitoring, not on every request.
func (n *Node) Stats() Stats {
	s := Stats{
		Members:     map[string]int{StateAlive: 0, StateLeaving: 0, StateLeft: 0, StateFailed: 0},
		HealthScore: n.HealthScore(),
		QuorumSize:  n.QuorumSize(),
		RPC:         n.rpc.stats.snapshot(),
	}
	for _, m := range n.serf.Members() {
		switch m.Status {
		case serf.StatusAlive:
			s.Members[StateAlive]++
		case serf.StatusLeaving:
			s.Members[StateLeaving]++
		case serf.StatusLeft:
			s.Members[StateLeft]++
		case serf.StatusFailed:
			s.Members[StateFailed]++
		}
	}
	return s
}

// HealthScore returns memberlist's health score of this node (see
// Stats.HealthScore): 0 is healthy, higher is worse.
func (n *Node) HealthScore() int { return n.serf.Memberlist().GetHealthScore() }

// maxRPCMethods bounds the methods counted apart, so that a program
// that makes up method names cannot grow the counters without end.
const maxRPCMethods = 64

// otherMethod collects the calls past maxRPCMethods methods.
const otherMethod = "other"

// rpcStats counts calls by method. Recording a call is a map read of
// an immutable map and atomic additions; only a method's first call
// takes mu to add it.
type rpcStats struct {
	methods atomic.Pointer[map[string]*methodCounters] // replaced, never changed
	mu      sync.Mutex                                 // serializes adding a method
}

type methodCounters struct {
	calls, errors atomic.Uint64
	latency       stats.Histogram
}

// record counts one call of method that began at start and ended with
// err.
func (r *rpcStats) record(method string, start time.Time, err error) {
	c := r.counters(method)
	c.latency.Since(start)
	c.calls.Add(1)
	if err != nil {
		c.errors.Add(1)
	}
}

// counters returns the counters of method, adding them on its first
// call.
func (r *rpcStats) counters(method string) *methodCounters {
	if m := r.methods.Load(); m != nil {
		if c := (*m)[method]; c != nil {
			return c
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var cur map[string]*methodCounters
	if m := r.methods.Load(); m != nil {
		cur = *m
	}
	if c := cur[method]; c != nil {
		return c
	}
	if len(cur) >= maxRPCMethods {
		method = otherMethod
		if c := cur[method]; c != nil {
			return c
		}
	}
	next := maps.Clone(cur)
	if next == nil {
		next = map[string]*methodCounters{}
	}
	c := &methodCounters{}
	next[method] = c
	r.methods.Store(&next)
	return c
}

func (r *rpcStats) snapshot() []MethodStats {
	m := r.methods.Load()
	if m == nil {
		return nil
	}
	out := make([]MethodStats, 0, len(*m))
	for name, c := range *m {
		out = append(out, MethodStats{Method: name, Calls: c.calls.Load(), Errors: c.errors.Load(), Latency: c.latency.Snapshot()})
	}
	slices.SortFunc(out, func(a, b MethodStats) int { return strings.Compare(a.Method, b.Method) })
	return out
}
