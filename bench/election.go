package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
)

// electionWait bounds the wait for a leader.
const electionWait = 30 * time.Second

// electionSetup describes the systems of the election rows.
const electionSetup = "Three candidates, each in its own \"process\": gossipsync, 3 nodes on 127.0.0.1 " +
	"(Local profile: lease 1 s), one Elector each (NoPreempt, so a restarted candidate does not " +
	"depose the leader); etcd, 1 and 3 members, one client per candidate (each on its own member), " +
	"concurrency.Election on a session of TTL 1 s, the shortest etcd grants with its heartbeat at " +
	"50 ms (at its default 100 ms it grants 2 s)."

func failoverRow() row {
	return row{
		name:   "failover",
		title:  "Election failover: leader process crash → new leader",
		metric: latency,
		oneOp:  true,
		minOps: 4,
		setup: "The leader's process crashes; the time runs until another candidate's Elect (Campaign) " +
			"returns. A gossipsync crash closes the leader's node without Leave; an etcd crash " +
			"orphans the leader's session (no revoke) and closes its client, so its lease runs out. " +
			"Then a fresh process takes the crashed one's place and campaigns (gossipsync: a new " +
			"node, after which the row waits out its voter's 1.25 s quiet period). " + electionSetup,
		systems: electionSystems(func(h *electionHarness) func(context.Context, *recorder) error { return h.failover }),
	}
}

func resignRow() row {
	return row{
		name:   "resign",
		title:  "Election: leader resigns → new leader",
		metric: latency,
		setup: "The leader resigns (Elected.Resign, Election.Resign); the time runs until another " +
			"candidate's Elect (Campaign) returns; the one that resigned then campaigns again. " + electionSetup,
		systems: electionSystems(func(h *electionHarness) func(context.Context, *recorder) error { return h.resign }),
	}
}

// electionSystems lists the elections the election rows compare; op
// picks the harness's operation.
func electionSystems(op func(*electionHarness) func(context.Context, *recorder) error) []system {
	with := func(mk func(ctx context.Context, e *env) (candidates, error), settle time.Duration) func(context.Context, *env) (workload, error) {
		return func(ctx context.Context, e *env) (workload, error) {
			c, err := mk(ctx, e)
			if err != nil {
				return workload{}, err
			}
			h, err := startHarness(ctx, c, settle)
			if err != nil {
				h.close()
				return workload{}, err
			}
			do := op(h)
			run := func(ctx context.Context, until time.Time, rec *recorder) error {
				for first := true; first || time.Now().Before(until); first = false {
					if err := do(ctx, rec); err != nil {
						return err
					}
				}
				return nil
			}
			return workload{run: run, stop: h.close, note: h.note}, nil
		}
	}
	etcdWith := func(n int) func(context.Context, *env) (candidates, error) {
		return func(ctx context.Context, e *env) (candidates, error) {
			cl, err := e.etcd(n)
			if err != nil {
				return nil, err
			}
			return newEtcdCandidates(ctx, cl)
		}
	}
	return []system{
		{name: "gossipsync, 3 nodes", role: baseline, start: with(newGossipCandidates, gossipSettle)},
		{name: "etcd, 1 member", start: with(etcdWith(1), etcdSettle)},
		{name: "etcd, 3 members", start: with(etcdWith(3), etcdSettle)},
	}
}

// After a restart the harness waits this long before the next crash:
// a new gossipsync voter backs no lease for 1.25 lease periods, and a new
// etcd candidate needs its key written.
const (
	gossipSettle = 1500 * time.Millisecond
	etcdSettle   = 200 * time.Millisecond
)

// candidates is one leader election with 3 candidates, each standing
// for a process of its own.
type candidates interface {
	// elect campaigns as candidate i and blocks until it leads; the
	// channel it returns closes when that leadership ends, whether by
	// resign, crash or a lease lost.
	elect(ctx context.Context, i int) (ended <-chan struct{}, err error)
	// resign makes leader i give up its lease.
	resign(ctx context.Context, i int) error
	// crash kills candidate i's process: it neither resigns nor leaves.
	crash(i int)
	// restart starts a fresh process for candidate i.
	restart(ctx context.Context, i int) error
	// close stops every candidate.
	close()
}

// electionHarness keeps the candidates campaigning, drives them from
// one operation to the next and keeps track of the leader.
type electionHarness struct {
	c      candidates
	ctx    context.Context // ends the campaign loops
	cancel context.CancelFunc
	loops  sync.WaitGroup
	wins   chan int // each candidate that starts leading
	leader int      // the last winner taken from wins
	settle time.Duration
	lost   atomic.Int64 // leaderships that ended without resign or crash

	mu      sync.Mutex
	leading [3]bool // candidate i leads now
	planned [3]bool // the harness is ending i's leadership (resign, crash)
}

// startHarness starts every candidate campaigning and waits for the
// first leader.
func startHarness(ctx context.Context, c candidates, settle time.Duration) (*electionHarness, error) {
	h := &electionHarness{c: c, wins: make(chan int, 16), settle: settle}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for i := range 3 {
		h.campaign(i)
	}
	l, err := h.nextLeader(ctx)
	h.leader = l
	return h, err
}

// campaign runs candidate i's loop: elect, report the win, wait for the
// leadership to end, and campaign again at once if it ended on its own
// (a lease lost); after a planned end the harness campaigns again itself.
func (h *electionHarness) campaign(i int) {
	h.loops.Go(func() {
		for {
			ended, err := h.c.elect(h.ctx, i)
			if err != nil {
				return
			}
			h.mu.Lock()
			h.leading[i] = true
			h.mu.Unlock()
			select {
			case h.wins <- i:
			case <-h.ctx.Done():
				return
			}
			select {
			case <-ended:
			case <-h.ctx.Done():
				return
			}
			h.mu.Lock()
			h.leading[i] = false
			planned := h.planned[i]
			h.planned[i] = false
			h.mu.Unlock()
			if planned {
				return
			}
			h.lost.Add(1)
		}
	})
}

// close stops the loops and the candidates.
func (h *electionHarness) close() {
	h.cancel()
	h.c.close()
	h.loops.Wait()
}

// note reports leaderships lost on their own, if any.
func (h *electionHarness) note() string {
	if n := h.lost.Load(); n > 0 {
		return fmt.Sprintf("%d leases lost on their own", n)
	}
	return ""
}

// nextLeader waits for the next win.
func (h *electionHarness) nextLeader(ctx context.Context) (int, error) {
	select {
	case l := <-h.wins:
		return l, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	case <-time.After(electionWait):
		return -1, fmt.Errorf("no new leader within %v", electionWait)
	}
}

// current returns the leader, after taking in any win that came without
// an operation, and waits for one if the last winner no longer leads (it
// lost its lease on its own); it marks the leader's coming end as planned.
func (h *electionHarness) current(ctx context.Context) (int, error) {
	for {
		for drained := false; !drained; {
			select {
			case l := <-h.wins:
				h.leader = l
			default:
				drained = true
			}
		}
		h.mu.Lock()
		leads := h.leading[h.leader]
		if leads {
			h.planned[h.leader] = true
		}
		h.mu.Unlock()
		if leads {
			return h.leader, nil
		}
		l, err := h.nextLeader(ctx)
		if err != nil {
			return -1, err
		}
		h.leader = l
	}
}

// failover crashes the leader, records the time until another candidate
// leads, then restarts the crashed candidate and lets it settle.
func (h *electionHarness) failover(ctx context.Context, rec *recorder) error {
	old, err := h.current(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	h.c.crash(old)
	if h.leader, err = h.nextLeader(ctx); err != nil {
		return err
	}
	rec.since(t0)
	if err := h.c.restart(ctx, old); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	h.campaign(old)
	time.Sleep(h.settle)
	return nil
}

// resign makes the leader resign, records the time until another
// candidate leads, then has the old leader campaign again.
func (h *electionHarness) resign(ctx context.Context, rec *recorder) error {
	old, err := h.current(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := h.c.resign(ctx, old); err != nil {
		rec.fail(err)
	}
	if h.leader, err = h.nextLeader(ctx); err != nil {
		return err
	}
	rec.since(t0)
	h.campaign(old)
	return nil
}

// gossipCandidates are 3 gossipsync nodes with an Elector each.
type gossipCandidates struct {
	gen     int            // restarts so far, for fresh node names
	closing sync.WaitGroup // Electors of crashed nodes, closing

	mu       sync.Mutex
	nodes    []*cluster.Node
	electors []*election.Elector
	leases   []*election.Elected // by candidate, the last won
}

func newGossipCandidates(ctx context.Context, _ *env) (candidates, error) {
	nodes, err := startNodes(ctx, "e", 3)
	if err != nil {
		return nil, err
	}
	g := &gossipCandidates{nodes: nodes, electors: make([]*election.Elector, 3), leases: make([]*election.Elected, 3)}
	for i, n := range nodes {
		if g.electors[i], err = newElector(n); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

func newElector(n *cluster.Node) (*election.Elector, error) {
	return election.New(n, election.Group("bench"), election.NoPreempt())
}

func (g *gossipCandidates) elect(ctx context.Context, i int) (<-chan struct{}, error) {
	g.mu.Lock()
	e := g.electors[i]
	g.mu.Unlock()
	el, err := e.Elect(ctx, fmt.Sprint(i))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.leases[i] = el
	g.mu.Unlock()
	return el.Revoked(), nil
}

func (g *gossipCandidates) resign(ctx context.Context, i int) error {
	g.mu.Lock()
	el := g.leases[i]
	g.mu.Unlock()
	if el == nil {
		return errors.New("resign: candidate never led")
	}
	return el.Resign(ctx)
}

// crash closes candidate i's node without Leave, so that it goes silent
// at once; its Elector, which can no longer reach anyone, closes in the
// background.
func (g *gossipCandidates) crash(i int) {
	g.mu.Lock()
	n, e := g.nodes[i], g.electors[i]
	g.mu.Unlock()
	n.Close()
	g.closing.Go(func() { e.Close() })
}

func (g *gossipCandidates) restart(ctx context.Context, i int) error {
	g.gen++
	g.mu.Lock()
	seed := g.nodes[(i+1)%3].Addr()
	g.mu.Unlock()
	n, err := joinNode(ctx, fmt.Sprintf("e%d-%d", i+1, g.gen), 3, seed)
	if err != nil {
		return err
	}
	err = waitMembers(ctx, []*cluster.Node{n}, 3)
	var e *election.Elector
	if err == nil {
		e, err = newElector(n)
	}
	if err != nil {
		n.Close()
		return err
	}
	g.mu.Lock()
	g.nodes[i], g.electors[i] = n, e
	g.mu.Unlock()
	return nil
}

func (g *gossipCandidates) close() {
	g.mu.Lock()
	electors, nodes := g.electors, g.nodes
	g.mu.Unlock()
	for _, e := range electors {
		if e != nil {
			e.Close()
		}
	}
	g.closing.Wait()
	closeNodes(nodes)
}

// etcdCandidates are 3 etcd clients, candidate i on member i%n, each
// with a session of the shortest TTL.
type etcdCandidates struct {
	cl     *etcdCluster
	prefix string // the election's keys; one per harness

	mu        sync.Mutex
	clients   []*clientv3.Client
	sessions  []*concurrency.Session
	elections []*concurrency.Election
	resigned  []chan struct{} // closed by resign, to end the leadership's channel
}

func newEtcdCandidates(ctx context.Context, cl *etcdCluster) (candidates, error) {
	c := &etcdCandidates{cl: cl, prefix: "/bench/election/" + newToken(),
		clients: make([]*clientv3.Client, 3), sessions: make([]*concurrency.Session, 3),
		elections: make([]*concurrency.Election, 3), resigned: make([]chan struct{}, 3)}
	for i := range 3 {
		if err := c.restart(ctx, i); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// elect campaigns on candidate i's session, first replacing the session
// if it expired (its lease lost).
func (c *etcdCandidates) elect(ctx context.Context, i int) (<-chan struct{}, error) {
	c.mu.Lock()
	s := c.sessions[i]
	c.mu.Unlock()
	select {
	case <-s.Done():
		if err := c.restart(ctx, i); err != nil {
			return nil, err
		}
	default:
	}
	c.mu.Lock()
	s, el := c.sessions[i], c.elections[i]
	resigned := make(chan struct{})
	c.resigned[i] = resigned
	c.mu.Unlock()
	if err := el.Campaign(ctx, fmt.Sprint(i)); err != nil {
		return nil, err
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-s.Done():
		case <-resigned:
		}
	}()
	return ended, nil
}

func (c *etcdCandidates) resign(ctx context.Context, i int) error {
	c.mu.Lock()
	el, resigned := c.elections[i], c.resigned[i]
	c.mu.Unlock()
	err := el.Resign(ctx)
	close(resigned)
	return err
}

// crash stops renewing candidate i's lease without revoking it, and
// closes its client.
func (c *etcdCandidates) crash(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions[i].Orphan()
	c.clients[i].Close()
	c.clients[i] = nil
}

// restart gives candidate i a new client on its member and a new
// session, closing the old client if it still runs.
func (c *etcdCandidates) restart(_ context.Context, i int) error {
	cli, err := c.cl.client(i)
	if err != nil {
		return err
	}
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(etcdMinTTL))
	if err != nil {
		cli.Close()
		return fmt.Errorf("etcd session: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.clients[i]; old != nil {
		old.Close()
	}
	c.clients[i], c.sessions[i] = cli, s
	c.elections[i] = concurrency.NewElection(s, c.prefix)
	return nil
}

func (c *etcdCandidates) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, cli := range c.clients {
		if cli == nil {
			continue
		}
		c.sessions[i].Close()
		cli.Close()
	}
}
