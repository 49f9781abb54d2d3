package raftgroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/gossipsync/gossipsync/internal/oneproc"
)

func TestMain(m *testing.M) {
	oneproc.UnderRace()
	goleak.VerifyTestMain(m)
}

// network is an in-memory Transport for tests: per-link cuts, a drop
// filter, a fixed delay, and one FIFO queue per member that drops when
// full. Messages are cloned, as a real transport would serialize them.
type network struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	delay  time.Duration

	mu    sync.Mutex
	nodes map[uint64]*endpoint
	cut   map[[2]uint64]bool                        // directed links that drop everything
	drop  func(from uint64, m *raftpb.Message) bool // optional; true drops m
	dup   func(from uint64, m *raftpb.Message) bool // optional; true sends m twice
	sent  atomic.Int64
}

type endpoint struct {
	n  *network
	id uint64
	q  chan delivery
	g  atomic.Pointer[Group]
}

type delivery struct {
	m  *raftpb.Message
	at time.Time
}

func newNetwork() *network {
	ctx, cancel := context.WithCancel(context.Background())
	return &network{ctx: ctx, cancel: cancel, nodes: map[uint64]*endpoint{}, cut: map[[2]uint64]bool{}}
}

// endpoint returns id's endpoint, creating it and its delivery goroutine.
func (n *network) endpoint(id uint64) *endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.nodes[id]; e != nil {
		return e
	}
	e := &endpoint{n: n, id: id, q: make(chan delivery, 4096)}
	n.nodes[id] = e
	n.wg.Add(1)
	go e.deliver()
	return e
}

func (e *endpoint) deliver() {
	defer e.n.wg.Done()
	for {
		select {
		case d := <-e.q:
			if wait := time.Until(d.at); wait > 0 {
				time.Sleep(wait)
			}
			if g := e.g.Load(); g != nil {
				_ = g.Step(e.n.ctx, d.m)
			}
		case <-e.n.ctx.Done():
			return
		}
	}
}

func (e *endpoint) Send(msgs []*raftpb.Message) {
	n := e.n
	at := time.Now().Add(n.delay)
	for _, m := range msgs {
		n.mu.Lock()
		dst := n.nodes[m.GetTo()]
		dropped := dst == nil || n.cut[[2]uint64{e.id, m.GetTo()}] || (n.drop != nil && n.drop(e.id, m))
		copies := 1
		if n.dup != nil && n.dup(e.id, m) {
			copies = 2
		}
		n.mu.Unlock()
		if dropped {
			continue
		}
		for range copies {
			n.sent.Add(1)
			select {
			case dst.q <- delivery{m: proto.Clone(m).(*raftpb.Message), at: at}:
			default:
			}
		}
	}
}

// isolate cuts every link to and from id.
func (n *network) isolate(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.nodes {
		n.cut[[2]uint64{id, other}] = true
		n.cut[[2]uint64{other, id}] = true
	}
}

// partition cuts every link between the two sides.
func (n *network) partition(a, b []uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			n.cut[[2]uint64{x, y}] = true
			n.cut[[2]uint64{y, x}] = true
		}
	}
}

func (n *network) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

func (n *network) setDrop(f func(from uint64, m *raftpb.Message) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop = f
}

func (n *network) setDup(f func(from uint64, m *raftpb.Message) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dup = f
}

func (n *network) close() {
	n.cancel()
	n.wg.Wait()
}

// logSM is a state machine that keeps every applied entry: comparing two
// members' logs shows any difference in content or order.
type logSM struct {
	mu       sync.Mutex
	entries  []applied
	restores atomic.Int64
}

type applied struct {
	Index uint64
	Data  string
}

func (s *logSM) Apply(index uint64, data []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, applied{index, string(data)})
	return len(s.entries)
}

func (s *logSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.entries)
}

func (s *logSM) Restore(data []byte) error {
	var entries []applied
	if err := json.Unmarshal(data, &entries); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = entries
	s.restores.Add(1)
	return nil
}

func (s *logSM) log() []applied {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

// testLogger logs warnings and errors to stderr when -v is given.
func testLogger() *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// cluster is a set of members on one network, inside a synctest bubble.
type cluster struct {
	t      testing.TB
	net    *network
	tune   func(*Config)
	groups map[uint64]*Group
	sms    map[uint64]*logSM
}

func newCluster(t testing.TB, n int, tune func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: newNetwork(), tune: tune, groups: map[uint64]*Group{}, sms: map[uint64]*logSM{}}
	var voters []uint64
	for id := range uint64(n) {
		voters = append(voters, id+1)
	}
	for _, id := range voters {
		c.start(id, voters)
	}
	return c
}

// start starts member id; with voters nil it joins.
func (c *cluster) start(id uint64, voters []uint64) *Group {
	c.t.Helper()
	sm := &logSM{}
	e := c.net.endpoint(id)
	cfg := Config{ID: id, Voters: voters, Transport: e, StateMachine: sm, Logger: testLogger()}
	if c.tune != nil {
		c.tune(&cfg)
	}
	g, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("Start(%d): %v", id, err)
	}
	e.g.Store(g)
	c.groups[id], c.sms[id] = g, sm
	return g
}

// crash closes member id and cuts its links; it stays in c.sms.
func (c *cluster) crash(id uint64) {
	c.net.isolate(id)
	if err := c.groups[id].Close(); err != nil {
		c.t.Errorf("Close(%d): %v", id, err)
	}
	delete(c.groups, id)
}

func (c *cluster) close() {
	for id := range c.groups {
		c.crash(id)
	}
	c.net.close()
}

// waitLeader waits until the live members among ids agree on a leader
// that is one of ids, and returns it.
func (c *cluster) waitLeader(ids []uint64, timeout time.Duration) uint64 {
	c.t.Helper()
	var lead uint64
	waitFor(c.t, timeout, "a leader among "+fmt.Sprint(ids), func() bool {
		lead = 0
		for _, id := range ids {
			st, err := c.groups[id].Status()
			if err != nil || st.Leader == 0 || !slices.Contains(ids, st.Leader) || (lead != 0 && st.Leader != lead) {
				return false
			}
			lead = st.Leader
		}
		st, err := c.groups[lead].Status()
		return err == nil && st.State == raft.StateLeader
	})
	return lead
}

func (c *cluster) ids() []uint64 {
	var ids []uint64
	for id := range c.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// waitConverged waits until the live members have applied the same log.
func (c *cluster) waitConverged(timeout time.Duration) []applied {
	c.t.Helper()
	var want []applied
	waitFor(c.t, timeout, "converged logs", func() bool {
		ids := c.ids()
		want = c.sms[ids[0]].log()
		for _, id := range ids[1:] {
			if !slices.Equal(c.sms[id].log(), want) {
				return false
			}
		}
		return true
	})
	return want
}

// checkPrefixes fails if two members' applied logs differ other than by
// one being a prefix of the other.
func (c *cluster) checkPrefixes() {
	c.t.Helper()
	for a, sa := range c.sms {
		for b, sb := range c.sms {
			la, lb := sa.log(), sb.log()
			n := min(len(la), len(lb))
			if i := firstDiff(la[:n], lb[:n]); i >= 0 {
				c.t.Fatalf("members %d and %d applied different entries at position %d: %v vs %v", a, b, i, la[i], lb[i])
			}
		}
	}
}

func firstDiff(a, b []applied) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// waitFor polls cond every 10 ms (virtual time in a bubble) until it
// holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// propose proposes on g with a deadline, again while the proposal is
// dropped (as a client should), and fails the test on another error.
func propose(t *testing.T, g *Group, data string) (uint64, any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		index, result, err := g.Propose(ctx, []byte(data))
		if err == nil {
			return index, result
		}
		if !errors.Is(err, ErrDropped) || ctx.Err() != nil {
			t.Fatalf("Propose(%q) on %d: %v", data, g.ID(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// changeConf proposes changes (raftpb.ConfChangesFromString syntax) on
// the leader among ids, retrying while the leader moves or a change is
// pending.
func (c *cluster) changeConf(ids []uint64, changes string) {
	c.t.Helper()
	ccs, err := raftpb.ConfChangesFromString(changes)
	if err != nil {
		c.t.Fatal(err)
	}
	cc := &raftpb.ConfChangeV2{Changes: ccs}
	var last error
	waitFor(c.t, 10*time.Second, "configuration change "+changes+" (last error: "+fmt.Sprint(last)+")", func() bool {
		lead := c.waitLeader(ids, 5*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last = c.groups[lead].ProposeConfChange(ctx, cc)
		return last == nil
	})
}

// bubble runs f in a synctest bubble and logs the virtual and the wall
// time it took.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	wall := time.Now()
	var virt time.Duration
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f(t)
		virt = time.Since(start)
	})
	t.Logf("took %v of virtual time, %v of wall time", virt, time.Since(wall).Round(100*time.Microsecond))
}
