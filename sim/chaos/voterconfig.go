package chaos

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/voters"
)

// configEvery is how often the voter watch samples the configuration.
const configEvery = 50 * time.Millisecond

// voterConfig is the voter group's configuration as the alive nodes
// report it (see readConfig).
type voterConfig struct {
	Group  uint64   // the group's ID
	Epoch  uint64   // the configuration's number: the log index of its entry; 0 = not known
	Voters []string // sorted
	Leader string   // the voters' Raft leader; "" = none known
}

func (c voterConfig) equal(d voterConfig) bool {
	return c.Group == d.Group && c.Epoch == d.Epoch && c.Leader == d.Leader && slices.Equal(c.Voters, d.Voters)
}

// configChange is a configuration and when the watch first saw it.
type configChange struct {
	At     time.Time
	Config voterConfig
	Target int // the number of voters the group aimed at then (see voterTarget)
}

// voterWatch follows the voter group of the simulated cluster: it holds
// each alive node's voters.Service (taken when the node starts and given
// back when it crashes or leaves, as the workloads hold theirs), samples
// the configuration every configEvery and records each change. Safe for
// concurrent use.
type voterWatch struct {
	c      *sim.Cluster
	stopCh chan struct{}
	done   chan struct{}

	mu struct {
		sync.Mutex
		svcs    map[string]heldService // by node name
		changes []configChange
		below   time.Time     // since when the configuration has had fewer voters than its target; zero: not now
		longest time.Duration // the longest such stretch so far
		from    time.Time     // its start
		stopped bool
	}
}

type heldService struct {
	svc     *voters.Service
	release func()
}

// startVoterWatch starts following the voters of c's alive nodes, and of
// every node that starts later.
func startVoterWatch(c *sim.Cluster) *voterWatch {
	w := &voterWatch{c: c, stopCh: make(chan struct{}), done: make(chan struct{})}
	w.mu.svcs = map[string]heldService{}
	for _, n := range c.Nodes() {
		w.take(n)
	}
	c.AddHooks(sim.Hooks{OnStart: w.take, OnCrash: w.give})
	go w.run()
	return w
}

// take holds n's voters.Service, which n's workloads have started.
func (w *voterWatch) take(n *cluster.Node) {
	svc, release := voters.Acquire(n)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.stopped {
		release()
		return
	}
	if old, ok := w.mu.svcs[n.Name()]; ok {
		defer old.release()
	}
	w.mu.svcs[n.Name()] = heldService{svc, release}
}

// give lets go of node name's voters.Service.
func (w *voterWatch) give(name string) {
	w.mu.Lock()
	h, ok := w.mu.svcs[name]
	delete(w.mu.svcs, name)
	w.mu.Unlock()
	if ok {
		h.release()
	}
}

func (w *voterWatch) run() {
	defer close(w.done)
	tick := time.NewTicker(configEvery)
	defer tick.Stop()
	for {
		w.sample(time.Now())
		select {
		case <-w.stopCh:
			return
		case <-tick.C:
		}
	}
}

// infos returns each alive node's view of the voter group.
func (w *voterWatch) infos() map[string]voters.Info {
	w.mu.Lock()
	svcs := make(map[string]*voters.Service, len(w.mu.svcs))
	for name, h := range w.mu.svcs {
		svcs[name] = h.svc
	}
	w.mu.Unlock()
	out := make(map[string]voters.Info, len(svcs))
	for name, svc := range svcs {
		out[name] = svc.Info()
	}
	return out
}

// current returns the configuration the alive nodes report now.
func (w *voterWatch) current() (voterConfig, bool) { return readConfig(w.infos()) }

// sample records the configuration at t if it changed, and the time it
// has had fewer voters than its target.
func (w *voterWatch) sample(t time.Time) {
	cfg, ok := w.current()
	target := voterTarget(w.c)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok || w.mu.stopped {
		return
	}
	if n := len(w.mu.changes); n > 0 {
		last := w.mu.changes[n-1].Config
		if cfg.Epoch == 0 && cfg.Group == last.Group && slices.Equal(cfg.Voters, last.Voters) {
			cfg.Epoch = last.Epoch // the entry was compacted away: the same configuration
		}
		if cfg.equal(last) {
			w.noteBelowLocked(t, len(cfg.Voters) < target)
			return
		}
	}
	w.mu.changes = append(w.mu.changes, configChange{At: t, Config: cfg, Target: target})
	w.noteBelowLocked(t, len(cfg.Voters) < target)
}

// noteBelowLocked follows the stretches of time below the target.
func (w *voterWatch) noteBelowLocked(t time.Time, below bool) {
	switch {
	case below && w.mu.below.IsZero():
		w.mu.below = t
	case !below && !w.mu.below.IsZero():
		w.endBelowLocked(t)
	}
}

func (w *voterWatch) endBelowLocked(t time.Time) {
	if d := t.Sub(w.mu.below); d > w.mu.longest {
		w.mu.longest, w.mu.from = d, w.mu.below
	}
	w.mu.below = time.Time{}
}

// stop ends the sampling, lets go of every service and returns what was
// recorded, with times from start (the start of the schedule).
func (w *voterWatch) stop(start time.Time) voterRecord {
	close(w.stopCh)
	<-w.done
	now := time.Now()
	w.mu.Lock()
	w.mu.stopped = true
	if !w.mu.below.IsZero() {
		w.endBelowLocked(now)
	}
	held := w.mu.svcs
	w.mu.svcs = nil
	rep := newVoterRecord(w.mu.changes, start, w.mu.longest, w.mu.from)
	w.mu.Unlock()
	for _, h := range held {
		h.release()
	}
	return rep
}

// voterTarget is the number of voters c's group aims at now: the odd
// number at most cluster.Config.Voters and the number of alive nodes, as
// the voters' autopilot computes it when no voter is missing.
func voterTarget(c *sim.Cluster) int {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return 0
	}
	t := min(nodes[0].Voters(), len(nodes))
	if t%2 == 0 {
		t--
	}
	return max(t, 1)
}

// readConfig returns the configuration that the members among the nodes
// whose views are infos report: the one with the highest epoch (a member
// cut off or removed reports an older one), its voters as its leader (or
// else the first member by name) reports them, and the leader that most
// of its members name (a leader cut off still names itself). It reports
// false if no node is a member.
func readConfig(infos map[string]voters.Info) (voterConfig, bool) {
	var names []string
	var best uint64
	for name, in := range infos {
		if in.Role == "" {
			continue
		}
		switch {
		case len(names) == 0 || in.Epoch > best:
			names, best = []string{name}, in.Epoch
		case in.Epoch == best:
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return voterConfig{}, false
	}
	slices.SortFunc(names, compareNames)
	from := names[0]
	votes := map[string]int{}
	for _, name := range names {
		if infos[name].Role == "leader" {
			from = name
		}
		if l := infos[name].Leader; l != "" {
			votes[l]++
		}
	}
	in := infos[from]
	cfg := voterConfig{Group: in.Group, Epoch: best, Voters: slices.Clone(in.Voters)}
	slices.SortFunc(cfg.Voters, compareNames)
	for _, l := range slices.SortedFunc(maps.Keys(votes), compareNames) {
		if votes[l] > votes[cfg.Leader] {
			cfg.Leader = l
		}
	}
	return cfg, true
}

// waitLeader polls every pollEvery for the voters' leader among the alive
// nodes, up to d or until ctx ends.
func (w *voterWatch) waitLeader(ctx context.Context, d time.Duration) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if cfg, ok := w.current(); ok && cfg.Leader != "" && w.c.Node(cfg.Leader) != nil {
			return cfg.Leader, true
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-tick.C:
		}
	}
}

// followers returns the voters that are not the voters' leader.
func (w *voterWatch) followers() []string {
	cfg, _ := w.current()
	return slices.DeleteFunc(cfg.Voters, func(n string) bool { return n == cfg.Leader })
}

// roleOf reports whether node is the voters' leader or another voter now.
func (w *voterWatch) roleOf(node string) (leader, voter bool) {
	cfg, _ := w.current()
	leader = cfg.Leader == node
	return leader, !leader && slices.Contains(cfg.Voters, node)
}
