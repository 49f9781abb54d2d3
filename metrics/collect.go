package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/internal/stats"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func histogram(d *prometheus.Desc, s stats.Snapshot, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), s.Cumulative(), labels...)
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Collector) collectNode(ch chan<- prometheus.Metric) {
	s := c.node.Stats()
	nd := &c.nd
	for state, n := range s.Members {
		ch <- gauge(nd.members, float64(n), state)
	}
	ch <- gauge(nd.health, float64(s.HealthScore))
	ch <- gauge(nd.quorum, float64(s.QuorumSize))
	for _, m := range s.RPC {
		ch <- counter(nd.rpcCalls, m.Calls, m.Method)
		ch <- counter(nd.rpcErrors, m.Errors, m.Method)
		ch <- histogram(nd.rpcSeconds, m.Latency, m.Method)
	}
}

// voterRoles are the values of the role label: voters.Info's roles, and
// "none" for a node outside the configuration.
var voterRoles = [...]string{"leader", "voter", "learner", "none"}

// collectVoters reports the voter group as the node's voter service sees
// it, if the node runs one (a lock Manager or an Elector starts it); it
// never starts one.
func (c *Collector) collectVoters(ch chan<- prometheus.Metric) {
	svc, release, ok := voters.Lookup(c.node)
	if !ok {
		return
	}
	in := svc.Info()
	release()
	nd := &c.nd
	ch <- gauge(nd.epoch, float64(in.Epoch))
	ch <- gauge(nd.term, float64(in.Term))
	ch <- gauge(nd.voters, float64(len(in.Voters)))
	ch <- gauge(nd.learners, float64(len(in.Learners)))
	role := in.Role
	if role == "" {
		role = "none"
	}
	for _, r := range voterRoles {
		ch <- gauge(nd.role, boolean(r == role), r)
	}
	ch <- gauge(nd.hasLeader, boolean(in.Leader != ""))
}

func (c *Collector) collectLocks(ch chan<- prometheus.Metric) {
	var sum lockmgr.Stats
	for _, m := range c.locks {
		s := m.Stats()
		sum.Acquiring += s.Acquiring
		sum.Held += s.Held
		sum.Grants += s.Grants
		sum.LeaseLosses += s.LeaseLosses
		sum.NoQuorum += s.NoQuorum
		sum.Locked += s.Locked
		sum.Timeouts += s.Timeouts
		sum.Canceled += s.Canceled
		sum.OtherErrors += s.OtherErrors
		sum.AcquireLatency = sum.AcquireLatency.Add(s.AcquireLatency)
	}
	ld := &c.ld
	ch <- histogram(ld.acquireSeconds, sum.AcquireLatency)
	ch <- gauge(ld.waiters, float64(sum.Acquiring))
	ch <- gauge(ld.held, float64(sum.Held))
	ch <- counter(ld.grants, sum.Grants)
	ch <- counter(ld.leaseLosses, sum.LeaseLosses)
	ch <- counter(ld.errors, sum.NoQuorum, "no_quorum")
	ch <- counter(ld.errors, sum.Locked, "locked")
	ch <- counter(ld.errors, sum.Timeouts, "timeout")
	ch <- counter(ld.errors, sum.Canceled, "canceled")
	ch <- counter(ld.errors, sum.OtherErrors, "other")
}

func (c *Collector) collectElections(ch chan<- prometheus.Metric) {
	byGroup := map[string]election.Stats{}
	for _, e := range c.electors {
		s := e.Stats()
		g, seen := byGroup[s.Group]
		if !seen {
			byGroup[s.Group] = s
			continue
		}
		g.Leading += s.Leading
		g.Wins += s.Wins
		g.LeaseLosses += s.LeaseLosses
		g.Term = max(g.Term, s.Term)
		g.LeaderChanges = max(g.LeaderChanges, s.LeaderChanges)
		byGroup[s.Group] = g
	}
	ed := &c.ed
	for _, s := range byGroup {
		ch <- gauge(ed.leader, boolean(s.Leading > 0), s.Group)
		ch <- gauge(ed.term, float64(s.Term), s.Group)
		ch <- counter(ed.wins, s.Wins, s.Group)
		ch <- counter(ed.changes, s.LeaderChanges, s.Group)
		ch <- counter(ed.leaseLosses, s.LeaseLosses, s.Group)
	}
}

func (c *Collector) collectClock(ch chan<- prometheus.Metric) {
	s := c.clock.Stats()
	cd := &c.cd
	ch <- gauge(cd.offset, seconds(s.Offset))
	ch <- gauge(cd.uncertainty, seconds(s.Uncertainty))
	ch <- gauge(cd.rtt, seconds(s.RTT))
	ch <- gauge(cd.isRef, boolean(s.IsReference))
	ch <- gauge(cd.synced, boolean(s.Synced))
	ch <- gauge(cd.refTerm, float64(s.Term))
	ch <- counter(cd.syncs, uint64(s.Samples))
	ch <- counter(cd.rejected, uint64(s.Rejected))
	ch <- counter(cd.failed, uint64(s.Failed))
}

func (c *Collector) collectTasks(ch chan<- prometheus.Metric) {
	s := c.tasks.Stats()
	td := &c.td
	ch <- counter(td.submitted, s.Submitted)
	ch <- counter(td.runFailures, s.RunFailures)
	ch <- gauge(td.inFlight, float64(s.InFlight))
	ch <- histogram(td.runSeconds, s.RunLatency)
	ch <- counter(td.done, s.Done)
	ch <- counter(td.failed, s.Failed)
	ch <- counter(td.retries, s.Retried)
	ch <- gauge(td.running, float64(s.Running))
	ch <- gauge(td.queued, float64(s.Queued))
	ch <- histogram(td.execSeconds, s.ExecLatency)
}
