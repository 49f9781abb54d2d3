package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

const (
	pollEvery  = 5 * time.Millisecond // how often convergence is checked
	startWait  = 30 * time.Second     // for the cluster to form
	finalWait  = 30 * time.Second     // for convergence after the final heal
	maxSimSize = 200                  // nodes; the simulation runs in real time
)

// simConfig is a run's configuration: Options with the scenario and
// the physical clocks resolved.
type simConfig struct {
	Nodes    int
	Duration time.Duration
	Seed     int64
	Scenario scenario      // its faults and, unless Options.Clocks is set, its clocks
	Skew     time.Duration // each node's physical clock is off by up to ±Skew
	Drift    float64       // and runs fast or slow by up to ±Drift ppm
	Unsafe   bool          // the lock workload runs without quorum, the event readers resume at Latest
	Disk     bool          // every node has a DataDir (see Options.Disk)
	Logger   *slog.Logger  // the nodes' logs; nil = none
	User     []Workload    // the user's workloads, beside the built-in ones
}

// simulate runs the simulation cfg describes, printing progress and then
// the report to w. It returns an error only if the cluster or a workload
// could not start. When ctx ends, the schedule stops early; the final
// heal and the report still happen.
func simulate(ctx context.Context, w io.Writer, cfg simConfig) (*Report, error) {
	began := time.Now()
	stalls := startStallMeter()
	defer stalls.stop() // when the run cannot start
	out := &syncWriter{w: w}
	out.printf("gossipsync sim: scenario %s, %d nodes, duration %v, seed %d\n", cfg.Scenario.Name, cfg.Nodes, cfg.Duration, cfg.Seed)
	out.printf("replay: %s\n", replayCommand(cfg))
	phys := drawPhysClocks(cfg.Seed, nodeNames(cfg.Nodes), cfg.Skew, cfg.Drift)
	out.printf("%s\n", physLine(cfg.Skew, cfg.Drift, phys))
	dataDir, err := makeDataDir(cfg)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dataDir) // after the cluster closed
	c, err := startCluster(ctx, cfg, dataDir)
	if err != nil {
		return nil, err
	}
	out.printf("cluster of %d formed in %s\n", cfg.Nodes, fmtDur(time.Since(began)))
	if err := startUserWorkloads(ctx, c, cfg.User); err != nil {
		c.Close()
		return nil, err
	}
	r, err := startWorkloads(ctx, c, out, phys, cfg)
	if err != nil {
		stopUserWorkloads(cfg.User)
		c.Close()
		return nil, err
	}
	r.start = time.Now()
	r.watch = newWatcher(c, out, r.start)
	for _, n := range c.Nodes() {
		r.watch.watch(n)
	}
	rep := &record{Config: cfg, V2: r.idleStart(ctx)} // V2's first round, before the faults
	rep.Phases = r.runSchedule(ctx, buildSchedule(cfg.Seed, cfg.Duration, c.Names(), cfg.Scenario))
	rep.Interrupted = ctx.Err() != nil
	final := context.WithoutCancel(ctx)
	quiet := r.events.Quiet() // the group's quiet period runs from the final heal
	rep.FinalConverged, rep.FinalTook = r.recover(final)
	finalLeader, finalSync := r.settle(final)
	rep.Clock = r.stopClocks(rep.Phases, finalSync)
	r.elect.Close()          // ends the open lease
	r.finish(final, &rep.V2) // a grant after the heal, for L4; V2's final round
	r.locks.Close()          // ends the open holds
	rep.Locks = newLockRecord(r.locks.History(), cfg.Unsafe)
	r.tasks.Close() // lets the Runs in flight end
	rep.Tasks = newTaskRecord(r.tasks.History())
	sleepUntil(final, quiet.Add(groupQuiet))
	r.groups.Close()
	r.events.Close()
	rep.Events = newEventRecord(r.events.History(), eventEvery(cfg.Nodes), cfg.Unsafe)
	rep.Groups = newGroupRecord(r.groups.History(), cfg.Drift)
	rep.User = stopUserWorkloads(cfg.User)
	rep.UserSpans = userSpans(cfg.User)
	rep.Net = c.Net().Stats()
	rep.Voters = r.voters.stop(r.start)
	c.Close()
	r.watch.wait()
	rep.Detected, rep.FalseSuspicions = r.watch.counts()
	rep.Election = newElectionRecord(r.elect.Leases(), rep.leaderCrashes(), finalLeader, r.elect.Failures(), time.Now())
	rep.Timeline = r.timeline(rep.Election.Leases)
	rep.Wall = time.Since(began)
	rep.Stalls = stalls.stop()
	report := summarize(rep)
	report.print(w)
	return report, nil
}

// startWorkloads sets the physical clocks, starts the election and clock
// workloads and waits for the first leader and for the clocks to sync.
func startWorkloads(ctx context.Context, c *sim.Cluster, out *syncWriter, phys []physClock, cfg simConfig) (*runner, error) {
	setPhysClocks(c, phys)
	t0 := time.Now()
	elect, err := sim.StartElection(c, electionGroup)
	if err != nil {
		return nil, err
	}
	clocks, err := sim.StartClocks(c, clockOptions(cfg.Drift)...)
	if err != nil {
		elect.Close()
		return nil, err
	}
	clocks.AllowRate(cfg.Drift / 1e6)
	clocks.AllowDrift(clockMaxDrift(cfg.Drift))
	locks, err := startLocks(c, cfg)
	if err != nil {
		elect.Close()
		clocks.Close()
		return nil, err
	}
	tasks, err := startTasks(c, cfg)
	if err != nil {
		elect.Close()
		clocks.Close()
		locks.Close()
		return nil, err
	}
	evs, err := startEvents(c, cfg)
	if err != nil {
		elect.Close()
		clocks.Close()
		locks.Close()
		tasks.Close()
		return nil, err
	}
	groups, err := startGroups(c, evs, cfg)
	if err != nil {
		elect.Close()
		clocks.Close()
		locks.Close()
		tasks.Close()
		evs.Close()
		return nil, err
	}
	r := &runner{c: c, elect: elect, clocks: clocks, locks: locks, tasks: tasks, events: evs, groups: groups, out: out, voters: startVoterWatch(c),
		aimRNG: rand.New(rand.NewPCG(uint64(cfg.Seed), pauseStream))}
	r.observer = startObserver(clocks, observeEvery)
	var first clockSync
	var syncing sync.WaitGroup
	syncing.Go(func() { first = r.waitClockSync(ctx, t0, startWait) })
	r.firstLeader(ctx, t0)
	syncing.Wait()
	r.showFirstSync(first)
	return r, nil
}

// startCluster starts the nodes and waits until they all see each other.
// dataDir, if set, holds the nodes' DataDirs.
func startCluster(ctx context.Context, cfg simConfig, dataDir string) (*sim.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	c, err := sim.Start(ctx, sim.Options{
		Nodes:     cfg.Nodes,
		Seed:      cfg.Seed,
		SecretKey: secretKey(cfg.Seed),
		Profile:   cluster.Local,
		Logger:    cfg.Logger,
		DataDir:   dataDir,
	})
	if err == nil {
		// Every cut black-holes the streams it crosses, as a real
		// partition does (calls hang until their deadlines, connections
		// linger half-open), instead of resetting them at once, which
		// lets callers fail fast and is the kinder case.
		c.Net().SetBlackHole(true)
	}
	return c, err
}

// makeDataDir makes the temporary directory of the nodes' DataDirs when
// cfg.Disk is set ("" otherwise).
func makeDataDir(cfg simConfig) (string, error) {
	if !cfg.Disk {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "gossipsync-sim-*")
	if err != nil {
		return "", fmt.Errorf("chaos: the nodes' data directory: %w", err)
	}
	return dir, nil
}

// secretKey derives a 32-byte cluster key from seed.
func secretKey(seed int64) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), keyStream))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	return key
}

// runner makes the schedule's faults and measures the cluster's answer.
type runner struct {
	c         *sim.Cluster
	elect     *sim.ElectionWorkload
	clocks    *sim.ClockWorkload
	locks     *sim.LockWorkload
	tasks     *sim.TaskWorkload
	events    *sim.EventWorkload
	groups    *sim.GroupWorkload
	voters    *voterWatch
	aimRNG    *rand.Rand // chooses among the lock holders and coordinators to aim at
	left      []string   // the nodes that left
	healed    time.Time  // the final heal
	observer  *observer
	out       *syncWriter
	watch     *watcher
	start     time.Time      // of the schedule
	width     int            // of the longest phase description, to align outcomes
	shown     string         // the leader line printed last
	shownRef  string         // the clock reference line printed last
	first     clockSync      // the clocks' first sync
	finalSync chan clockSync // the clocks' sync after the final heal, from recover
	down      []string       // the nodes the last outage crashed
}

// runSchedule runs the phases in order, each at its start time, until the
// schedule ends or ctx does. After each phase it prints the leader and
// the clock reference if they changed.
func (r *runner) runSchedule(ctx context.Context, phases []phase) []phaseResult {
	phases = slices.Clone(phases) // aim renames nodes in the phases to come
	for _, p := range phases {
		r.width = max(r.width, widest(p))
	}
	var results []phaseResult
	for i, p := range phases {
		if !sleepUntil(ctx, r.start.Add(p.Start)) {
			break
		}
		res := r.runPhase(ctx, phases[i:])
		r.out.printf("%s\n", phaseLine(res, res.what(), r.width))
		results = append(results, res)
		sleepUntil(ctx, r.start.Add(p.Start+p.Length))
		if p.Fault == faultLoss {
			clearLoss(r.c)
		}
		r.note()
	}
	return results
}

// runPhase makes the fault of rest[0], the phase due now, and waits, until
// its deadline at the most (the end of the phase; see phase.deadline),
// for the cluster to converge, after a crash or isolation of the leader
// for a new leader and after a crash of the clock reference for the
// clocks to follow a new one.
func (r *runner) runPhase(parent context.Context, rest []phase) phaseResult {
	ctx, cancel := context.WithDeadline(parent, rest[0].deadline(r.start, time.Now()))
	defer cancel()
	p, noTarget := r.aim(ctx, rest)
	res := phaseResult{phase: p, At: time.Since(r.start), NoTarget: noTarget}
	t0 := time.Now()
	if p.Node != "" && p.Fault != faultJoin && p.Fault != faultRestart {
		r.roles(&res, t0)
	}
	switch p.Fault {
	case faultPause:
		r.runPause(ctx, p, &res)
		res.Interrupted = !res.Converged && parent.Err() != nil
		return res
	case faultHeal, faultRestart, faultJoin, faultRestartAll:
		r.watch.recovering()
	case faultIsolate:
		res.LeaderCut = res.Leader
	case faultLeave:
		r.left = append(r.left, p.Node)
	}
	crashed := ""
	var crashing sync.WaitGroup
	switch p.Fault {
	case faultCrash:
		crashed = p.Node
		res.CrashedAt = t0
		res.LeaderCrash, res.RefCrash = res.Leader, res.Reference
		// Crash takes the node off the network at once but returns only
		// after the crash hooks, and a leader's Elector spends half a
		// lease failing to tell the voters it stops. Measure meanwhile.
		crashing.Go(func() { r.c.Crash(p.Node) })
	case faultJump:
		r.c.Jump(p.Node, p.Jump)
	case faultOutage, faultRestartAll:
		r.runOutage(ctx, p, &res)
	default:
		n, err := p.apply(ctx, r.c)
		if n != nil {
			r.watch.watch(n)
		}
		res.Err = err
	}
	if p.Fault == faultHeal {
		r.locks.Healed(t0)
	}
	if p.Fault != faultBridge { // a bridge relays: the views are not expected to split
		r.measure(ctx, t0, crashed, &res)
	}
	crashing.Wait()
	if p.Fault == faultHeal || p.Fault == faultRestart || p.Fault == faultJoin || restartsAll(p) {
		r.watch.settled()
	}
	res.Interrupted = !res.Converged && parent.Err() != nil
	return res
}

// roles notes in res what the phase's node was at t: the leader, the
// clock reference, a lock holder, the coordinator of a lock id, the
// voters' leader or another voter.
func (r *runner) roles(res *phaseResult, t time.Time) {
	node := res.Node
	res.VoterLeader, res.Voter = r.voters.roleOf(node)
	res.Leader = heldAt(r.elect.Leases(), node, t)
	res.Reference, res.RefTerm = r.isReference(node)
	res.Holder = slices.Contains(r.locks.Holders(), node)
	res.Coordinator = slices.Contains(r.locks.Coordinators(), node)
}

// measure polls every pollEvery until the cluster has converged and, after
// a crash, every alive node has dropped the crashed node and, after a
// crash of the leader, a new lease has started and, after a crash of the
// clock reference, every alive clock reads on a new reference; or until
// ctx ends.
func (r *runner) measure(ctx context.Context, t0 time.Time, crashed string, res *phaseResult) {
	// A convergence check reads every node's view: O(nodes²). Poll a
	// large cluster less often, so that the measuring does not load the
	// machine it measures.
	tick := time.NewTicker(max(pollEvery, time.Duration(len(r.c.Names()))*time.Millisecond/2))
	defer tick.Stop()
	for {
		now := time.Now()
		begun := crashed == "" || r.c.Node(crashed) == nil // Crash runs in parallel
		if begun && crashed != "" && !res.Detected && droppedByAll(r.c, crashed) {
			res.Detected, res.DetectTook = true, now.Sub(t0)
		}
		if begun && !res.Converged && r.c.Converged() {
			res.Converged, res.Took = true, now.Sub(t0)
		}
		if (res.LeaderCrash || res.LeaderCut) && !res.FailedOver {
			if l, ok := firstLeaseAfter(r.elect.Leases(), t0); ok {
				res.FailedOver, res.Failover, res.NewLeader = true, l.Start.Sub(t0), l.Node
			}
		}
		if begun && res.RefCrash && !res.Resynced {
			if s := r.clockSynced(); s.OK && s.Ref.Node != crashed {
				res.Resynced, res.Resync, res.NewRef, res.NewTerm = true, now.Sub(t0), s.Ref.Node, s.Ref.Stats.Term
			}
		}
		if res.Converged && (crashed == "" || res.Detected) && (!(res.LeaderCrash || res.LeaderCut) || res.FailedOver) && (!res.RefCrash || res.Resynced) {
			return
		}
		select {
		case <-ctx.Done():
			if !res.Converged {
				res.Took = time.Since(t0)
			}
			return
		case <-tick.C:
		}
	}
}

// droppedByAll reports whether no alive node lists name as a member.
func droppedByAll(c *sim.Cluster, name string) bool {
	for _, n := range c.Nodes() {
		for _, m := range n.Members() {
			if m.Name == name {
				return false
			}
		}
	}
	return true
}

// recover heals the partition, ends the loss, restarts the crashed nodes
// and waits up to finalWait for convergence. From the heal on, it also
// waits in the background (up to finalLeaderWait) for every clock to
// read on one reference; settle collects that.
func (r *runner) recover(ctx context.Context) (bool, time.Duration) {
	at := time.Since(r.start)
	t0 := time.Now()
	r.finalSync = make(chan clockSync, 1)
	go func(ctx context.Context) { r.finalSync <- r.waitClockSync(ctx, t0, finalLeaderWait) }(ctx)
	ctx, cancel := context.WithTimeout(ctx, finalWait) // for the convergence only
	defer cancel()
	r.watch.recovering()
	r.c.Heal()
	r.healed = time.Now()
	r.locks.Healed(r.healed)
	clearLoss(r.c)
	what := "heal, loss off"
	for _, name := range r.c.Names() {
		if r.c.Node(name) != nil || slices.Contains(r.left, name) {
			continue
		}
		what += ", restart " + name
		n, err := r.c.Restart(ctx, name)
		if n != nil {
			r.watch.watch(n)
		}
		if err != nil {
			r.out.printf("[%6.1fs]   restart %s: %v\n", time.Since(r.start).Seconds(), name, err)
		}
	}
	res := phaseResult{At: at}
	r.measure(ctx, t0, "", &res)
	r.watch.settled()
	r.out.printf("%s\n", phaseLine(res, "final: "+what, r.width))
	return res.Converged, res.Took
}

// settle waits after recover up to finalLeaderWait for a leader and
// for the clocks' sync that recover waits for, and prints the leader and
// the clock reference if they changed. The leader is nil if there was
// none.
func (r *runner) settle(ctx context.Context) (*check.LeaseRecord, clockSync) {
	l, ok := r.waitLeader(ctx, finalLeaderWait)
	s := <-r.finalSync
	r.showChanges(leaderLine(l, ok), referenceLine(s.Ref))
	if !ok {
		return nil, s
	}
	return &l, s
}

// sleepUntil waits until t and reports true, or reports false if ctx ends
// first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	if ctx.Err() != nil {
		return false
	}
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
