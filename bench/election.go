package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
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
	with := func(mk func(ctx context.Context, e *env, wins chan int) (candidates, error), settle time.Duration) func(context.Context, *env) (workload, error) {
		return func(ctx context.Context, e *env) (workload, error) {
			wins := make(chan int, 16)
			c, err := mk(ctx, e, wins)
			if err != nil {
				return workload{}, err
			}
			h, err := startHarness(ctx, c, wins, settle)
			if err != nil {
				c.close()
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
			return workload{run: run, stop: c.close}, nil
		}
	}
	etcdWith := func(n int) func(context.Context, *env, chan int) (candidates, error) {
		return func(ctx context.Context, e *env, wins chan int) (candidates, error) {
			cl, err := e.etcd(n)
			if err != nil {
				return nil, err
			}
			return newEtcdCandidates(ctx, cl, wins)
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
	// campaign starts candidate i campaigning in the background; once it
	// leads, it sends i on the wins channel given at construction.
	campaign(i int)
	// resign makes leader i give up its lease.
	resign(ctx context.Context, i int) error
	// crash kills candidate i's process: it neither resigns nor leaves.
	crash(i int)
	// restart starts a fresh process for candidate i, not campaigning.
	restart(ctx context.Context, i int) error
	// close stops every candidate.
	close()
}

// electionHarness drives candidates from one operation to the next and
// keeps track of the leader.
type electionHarness struct {
	c      candidates
	wins   chan int
	leader int
	settle time.Duration
}

// startHarness starts every candidate campaigning and waits for the
// first leader.
func startHarness(ctx context.Context, c candidates, wins chan int, settle time.Duration) (*electionHarness, error) {
	h := &electionHarness{c: c, wins: wins, settle: settle}
	for i := range 3 {
		c.campaign(i)
	}
	l, err := h.nextLeader(ctx)
	h.leader = l
	return h, err
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

// drain takes any win that came without an operation (a lease lost on
// its own) as the current leader.
func (h *electionHarness) drain() {
	for {
		select {
		case l := <-h.wins:
			h.leader = l
		default:
			return
		}
	}
}

// failover crashes the leader, records the time until another candidate
// leads, then restarts the crashed candidate and lets it settle.
func (h *electionHarness) failover(ctx context.Context, rec *recorder) error {
	h.drain()
	old := h.leader
	t0 := time.Now()
	h.c.crash(old)
	l, err := h.nextLeader(ctx)
	if err != nil {
		return err
	}
	rec.since(t0)
	h.leader = l
	if err := h.c.restart(ctx, old); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	h.c.campaign(old)
	time.Sleep(h.settle)
	return nil
}

// resign makes the leader resign, records the time until another
// candidate leads, then has the old leader campaign again.
func (h *electionHarness) resign(ctx context.Context, rec *recorder) error {
	h.drain()
	old := h.leader
	t0 := time.Now()
	if err := h.c.resign(ctx, old); err != nil {
		rec.fail(err)
	}
	l, err := h.nextLeader(ctx)
	if err != nil {
		return err
	}
	rec.since(t0)
	h.leader = l
	h.c.campaign(old)
	return nil
}

// gossipCandidates are 3 gossipsync nodes with an Elector each.
type gossipCandidates struct {
	ctx      context.Context // ends the campaigns at close
	cancel   context.CancelFunc
	wins     chan<- int
	nodes    []*cluster.Node
	electors []*election.Elector
	gen      int            // restarts so far, for fresh node names
	closing  sync.WaitGroup // Electors of crashed nodes, closing
	mu       sync.Mutex
	leases   []*election.Elected // by candidate, the last won
}

func newGossipCandidates(ctx context.Context, _ *env, wins chan int) (candidates, error) {
	nodes, err := startNodes(ctx, "e", 3)
	if err != nil {
		return nil, err
	}
	g := &gossipCandidates{wins: wins, nodes: nodes, electors: make([]*election.Elector, 3), leases: make([]*election.Elected, 3)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
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

func (g *gossipCandidates) campaign(i int) {
	e := g.electors[i]
	go func() {
		el, err := e.Elect(g.ctx, fmt.Sprint(i))
		if err != nil {
			return
		}
		g.mu.Lock()
		g.leases[i] = el
		g.mu.Unlock()
		select {
		case g.wins <- i:
		case <-g.ctx.Done():
		}
	}()
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
	g.nodes[i].Close()
	e := g.electors[i]
	g.closing.Go(func() { e.Close() })
}

func (g *gossipCandidates) restart(ctx context.Context, i int) error {
	g.gen++
	seed := g.nodes[(i+1)%3].Addr()
	n, err := joinNode(ctx, fmt.Sprintf("e%d-%d", i+1, g.gen), 3, seed)
	if err != nil {
		return err
	}
	g.nodes[i] = n
	if err := waitMembers(ctx, []*cluster.Node{n}, 3); err != nil {
		return err
	}
	e, err := newElector(n)
	if err != nil {
		return err
	}
	g.electors[i] = e
	return nil
}

func (g *gossipCandidates) close() {
	g.cancel()
	for _, e := range g.electors {
		if e != nil {
			e.Close()
		}
	}
	g.closing.Wait()
	closeNodes(g.nodes)
}

// etcdCandidates are 3 etcd clients, candidate i on member i%n, each
// with a session of the shortest TTL.
type etcdCandidates struct {
	ctx       context.Context
	cancel    context.CancelFunc
	cl        *etcdCluster
	prefix    string // the election's keys; one per harness
	wins      chan<- int
	clients   []*clientv3.Client
	sessions  []*concurrency.Session
	elections []*concurrency.Election
}

func newEtcdCandidates(ctx context.Context, cl *etcdCluster, wins chan int) (candidates, error) {
	c := &etcdCandidates{cl: cl, wins: wins, prefix: "/bench/election/" + newToken(),
		clients: make([]*clientv3.Client, 3), sessions: make([]*concurrency.Session, 3), elections: make([]*concurrency.Election, 3)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for i := range 3 {
		if err := c.restart(ctx, i); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *etcdCandidates) campaign(i int) {
	el := c.elections[i]
	go func() {
		if err := el.Campaign(c.ctx, fmt.Sprint(i)); err != nil {
			return
		}
		select {
		case c.wins <- i:
		case <-c.ctx.Done():
		}
	}()
}

func (c *etcdCandidates) resign(ctx context.Context, i int) error {
	return c.elections[i].Resign(ctx)
}

// crash stops renewing candidate i's lease without revoking it, and
// closes its client.
func (c *etcdCandidates) crash(i int) {
	c.sessions[i].Orphan()
	c.clients[i].Close()
	c.clients[i] = nil
}

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
	c.clients[i], c.sessions[i] = cli, s
	c.elections[i] = concurrency.NewElection(s, c.prefix)
	return nil
}

func (c *etcdCandidates) close() {
	c.cancel()
	for i, cli := range c.clients {
		if cli == nil {
			continue
		}
		c.sessions[i].Close()
		cli.Close()
	}
}
