package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/taskpool"
)

// Collector is a prometheus.Collector of one node and the primitives on
// it (see the package doc for the metrics). It reads their Stats at each
// scrape and keeps nothing between scrapes. Register it on a registry of
// your own; it registers itself nowhere. Safe for concurrent use.
type Collector struct {
	node     *cluster.Node
	locks    []*lockmgr.Manager
	electors []*election.Elector
	clock    *clock.Clock
	tasks    *taskpool.Pool

	nd nodeDescs
	ld lockDescs
	ed electionDescs
	cd clockDescs
	td taskDescs
}

var _ prometheus.Collector = (*Collector)(nil)

// Option adds a primitive of the node to a Collector. A nil argument
// adds nothing, so optional parts can be passed as they are.
type Option func(*Collector)

// WithLocks adds a lock Manager. Repeatable: the figures of a node's
// Managers are added up.
func WithLocks(m *lockmgr.Manager) Option {
	return func(c *Collector) {
		if m != nil && !slices.Contains(c.locks, m) {
			c.locks = append(c.locks, m)
		}
	}
}

// WithElector adds an Elector; its group becomes the group label.
// Repeatable, one per group: two Electors of one group on the node are
// reported as one (leases and wins added up, the highest term and count
// of leader changes taken).
func WithElector(e *election.Elector) Option {
	return func(c *Collector) {
		if e != nil && !slices.Contains(c.electors, e) {
			c.electors = append(c.electors, e)
		}
	}
}

// WithClock adds the node's Clock. A node runs one Clock at a time; a
// later WithClock replaces an earlier one.
func WithClock(clk *clock.Clock) Option {
	return func(c *Collector) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithTasks adds the node's task Pool. A node runs one Pool at a time; a
// later WithTasks replaces an earlier one.
func WithTasks(p *taskpool.Pool) Option {
	return func(c *Collector) {
		if p != nil {
			c.tasks = p
		}
	}
}

// NewCollector returns a Collector of node n (its membership, RPC and
// voter-group figures, always) and of the primitives the options add.
// It starts nothing and holds nothing that needs closing: the voter
// service is looked up at each scrape, and only if the node runs one.
func NewCollector(n *cluster.Node, opts ...Option) *Collector {
	c := &Collector{node: n, nd: newNodeDescs(), ld: newLockDescs(), ed: newElectionDescs(), cd: newClockDescs(), td: newTaskDescs()}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Describe sends the descriptors of every metric the Collector may
// send: those of the node and of each kind of primitive it was given.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	send := func(ds ...*prometheus.Desc) {
		for _, d := range ds {
			ch <- d
		}
	}
	nd := &c.nd
	send(nd.members, nd.health, nd.quorum, nd.rpcCalls, nd.rpcErrors, nd.rpcSeconds,
		nd.epoch, nd.term, nd.voters, nd.learners, nd.role, nd.hasLeader)
	if len(c.locks) > 0 {
		ld := &c.ld
		send(ld.acquireSeconds, ld.waiters, ld.held, ld.grants, ld.leaseLosses, ld.errors)
	}
	if len(c.electors) > 0 {
		ed := &c.ed
		send(ed.leader, ed.term, ed.wins, ed.changes, ed.leaseLosses)
	}
	if c.clock != nil {
		cd := &c.cd
		send(cd.offset, cd.uncertainty, cd.rtt, cd.isRef, cd.synced, cd.refTerm, cd.syncs, cd.rejected, cd.failed)
	}
	if c.tasks != nil {
		td := &c.td
		send(td.submitted, td.runFailures, td.inFlight, td.runSeconds, td.done, td.failed, td.retries, td.running, td.queued, td.execSeconds)
	}
}

// Collect reads the Stats of the node and of each primitive and sends
// them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectNode(ch)
	c.collectVoters(ch)
	if len(c.locks) > 0 {
		c.collectLocks(ch)
	}
	if len(c.electors) > 0 {
		c.collectElections(ch)
	}
	if c.clock != nil {
		c.collectClock(ch)
	}
	if c.tasks != nil {
		c.collectTasks(ch)
	}
}
