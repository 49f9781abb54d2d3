package voters_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/oneproc"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simnet"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

func TestMain(m *testing.M) {
	oneproc.UnderRace()
	goleak.VerifyTestMain(m)
}

// env is a simulated cluster with the voter service on its nodes.
type env struct {
	t  *testing.T
	c  *sim.Cluster
	mu sync.Mutex
	ss map[string]*voters.Service // the services of the alive nodes
	// rel releases each node's reference to its service.
	rel map[string]func()
}

// newEnv starts a cluster.Local cluster of n nodes and the service on
// every node.
func newEnv(t *testing.T, n int, seed int64) *env {
	t.Helper()
	e := &env{t: t, c: simtest.Start(t, n, seed), ss: map[string]*voters.Service{}, rel: map[string]func(){}}
	for _, node := range e.c.Nodes() {
		e.acquire(node)
	}
	return e
}

// acquire starts (or takes) the service of node and releases it at
// cleanup.
func (e *env) acquire(n *cluster.Node) *voters.Service {
	s, release := voters.Acquire(n)
	e.t.Cleanup(release)
	e.mu.Lock()
	e.ss[n.Name()] = s
	e.rel[n.Name()] = release
	e.mu.Unlock()
	return s
}

// reacquire releases node name's service, which stops it (this is its
// only user), and starts a new one on the same node.
func (e *env) reacquire(name string) *voters.Service {
	e.mu.Lock()
	release := e.rel[name]
	e.mu.Unlock()
	release()
	return e.acquire(e.c.Node(name))
}

func (e *env) s(name string) *voters.Service {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ss[name]
}

// live returns the services of the alive nodes.
func (e *env) live() map[string]*voters.Service {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]*voters.Service{}
	for name, s := range e.ss {
		if e.c.Node(name) != nil {
			out[name] = s
		}
	}
	return out
}

// crash crashes node name; its service stops with the node.
func (e *env) crash(name string) {
	e.c.Crash(name)
	e.mu.Lock()
	delete(e.ss, name)
	e.mu.Unlock()
}

// restart restarts crashed node name and starts a new incarnation of its
// service.
func (e *env) restart(name string) *voters.Service {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := e.c.Restart(ctx, name)
	if err != nil {
		e.t.Fatalf("restart %s: %v", name, err)
	}
	return e.acquire(n)
}

// leader returns the name of the live service that leads, or "".
func (e *env) leader() string {
	for name, s := range e.live() {
		if s.State().Leader {
			return name
		}
	}
	return ""
}

// leaderState returns the leader's State, or the zero State if no live
// service leads.
func (e *env) leaderState() voters.State {
	for _, s := range e.live() {
		if st := s.State(); st.Leader {
			return st
		}
	}
	return voters.State{}
}

// whole reports whether the live services form one group whose leader's
// configuration holds exactly want voters, each the member of a live
// service (the current incarnation), and why not.
func whole(ss map[string]*voters.Service, want int) (bool, string) {
	ids := map[uint64]string{}
	var lead voters.State
	for name, s := range ss {
		st := s.State()
		if st.ID != 0 {
			ids[st.ID] = name
		}
		if st.Leader {
			lead = st
		}
	}
	if lead.ID == 0 {
		return false, "no leader"
	}
	if len(lead.Voters) != want {
		return false, fmt.Sprintf("%d voters", len(lead.Voters))
	}
	for _, id := range lead.Voters {
		name, ok := ids[id]
		if !ok {
			return false, fmt.Sprintf("voter %x is no live member", id)
		}
		if g := ss[name].State().Group; g != lead.Group {
			return false, fmt.Sprintf("voter %s is in group %x, not %x", name, g, lead.Group)
		}
	}
	return true, ""
}

func (e *env) waitWhole(d time.Duration, want int) time.Duration {
	e.t.Helper()
	start := time.Now()
	var why string
	waitFor(e.t, d, fmt.Sprintf("%d voters of live incarnations", want), func() bool {
		var ok bool
		ok, why = whole(e.live(), want)
		return ok
	}, func() string { return why })
	return time.Since(start)
}

// waitFor polls f every 10 ms until it holds, failing the test after d
// (of virtual time); detail, if given, tells what was last seen.
func waitFor(t testing.TB, d time.Duration, what string, f func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			more := ""
			if len(detail) > 0 {
				more = ": " + detail[0]()
			}
			t.Fatalf("timed out after %v waiting for %s%s", d, what, more)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// names returns the voters and learners of a service's view, for logs.
func names(s *voters.Service) string {
	if s == nil {
		return "(none)"
	}
	in := s.Info()
	return fmt.Sprintf("group %x leader %q voters %v learners %v", in.Group, in.Leader, in.Voters, in.Learners)
}

func claim(key string, h leases.Holder, ttl time.Duration) leases.Cmd {
	return leases.Cmd{Op: leases.OpClaim, Key: key, Holder: h, TTL: ttl}
}

// do runs cmds through s with a timeout and returns the first result.
func do(t testing.TB, s *voters.Service, d time.Duration, cmds ...leases.Cmd) leases.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res, err := s.Do(ctx, cmds)
	if err != nil {
		t.Fatalf("Do(%v): %v", cmds[0].Op, err)
	}
	if len(res) != len(cmds) {
		t.Fatalf("Do: %d results for %d commands", len(res), len(cmds))
	}
	return res[0]
}

// nodeCluster starts n nodes named n1..nN on a network of their own,
// each configured by cfg, joined and converged; they close at cleanup.
// sim.Options has no ExpectedSize nor Voters, so tests that need them
// make their nodes as sim does.
func nodeCluster(t *testing.T, n int, seed int64, cfg func(*cluster.Config)) []*cluster.Node {
	t.Helper()
	nodes := startNodes(t, n, seed, cfg)
	join(t, nodes...)
	return nodes
}

// startNodes starts n nodes named n1..nN on a network of their own,
// each configured by cfg, without joining them; they close at cleanup.
func startNodes(t *testing.T, n int, seed int64, cfg func(*cluster.Config)) []*cluster.Node {
	t.Helper()
	net := simnet.New(seed)
	var nodes []*cluster.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
		time.Sleep(simtest.Settle)
	})
	for i := 1; i <= n; i++ {
		ip := fmt.Sprintf("127.0.20.%d", i)
		c := cluster.Config{Name: fmt.Sprintf("n%d", i), BindAddr: ip + ":7946", Profile: cluster.Local, Network: net.Host(ip)}
		cfg(&c)
		node, err := cluster.New(c)
		if err != nil {
			t.Fatalf("cluster.New: %v", err)
		}
		nodes = append(nodes, node)
	}
	return nodes
}

// join joins nodes through the first and waits until each sees them
// all.
func join(t *testing.T, nodes ...*cluster.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range nodes[1:] {
		if _, err := node.Join(ctx, nodes[0].Addr()); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	waitFor(t, 30*time.Second, "the nodes to converge", func() bool {
		for _, node := range nodes {
			if len(node.MemberNames()) != len(nodes) {
				return false
			}
		}
		return true
	})
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
