package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim/simnet"
)

// Options configures a simulated cluster.
type Options struct {
	// Nodes is the number of nodes, named "n1".."nN"; at least 1.
	Nodes int
	// Seed seeds every random choice the simulation makes.
	Seed int64
	// SecretKey is passed to every node (nil = open cluster).
	SecretKey []byte
	// Profile is every node's timing profile. The zero value is LAN, as
	// in cluster.Config; simulations usually want cluster.Local.
	Profile cluster.Profile
	// Logger receives the nodes' logs; nil = discard.
	Logger *slog.Logger
	// DataDir, when set, gives each node the directory DataDir/<name>
	// as its cluster.Config.DataDir, kept across its crashes and
	// restarts (a process restarted on the same disk). "" = memory only.
	DataDir string
}

// Cluster is a whole gossipsync cluster on one in-memory Net. Node i is
// "n<i>" at address 127.0.<10+i/250>.<1+i%250>:7946 on the simulated
// network (no real socket is opened). Safe for concurrent use.
type Cluster struct {
	opt Options
	net *simnet.Net

	mu     sync.Mutex               // protects the fields below
	nodes  map[string]*cluster.Node // alive nodes by name
	ips    map[string]string        // every node's ip by name
	clocks map[string]*physClock    // every node's physical clock by name
	groups [][]string               // the current partition, by name; nil = none
	paused map[string]int           // nodes paused now, with nesting
	hooks  []Hooks
}

// Hooks let a workload follow node crashes, (re)starts and pauses. They
// run synchronously: OnCrash after the node's traffic stopped and before
// it is closed, OnStart after a restarted or added node joined, OnPause
// after the node froze (from Pause), OnResume after it thawed (from a
// time.AfterFunc callback). Any may be nil.
type Hooks struct {
	OnCrash  func(name string)
	OnStart  func(n *cluster.Node)
	OnPause  func(name string)
	OnResume func(name string)
}

// AddHooks registers h for later crashes and restarts.
func (c *Cluster) AddHooks(h Hooks) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = append(c.hooks, h)
}

func (c *Cluster) hookList() []Hooks {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hooks)
}

// Start creates the nodes, joins them all through n1 and waits until every
// node sees every other, or ctx ends.
func Start(ctx context.Context, opt Options) (*Cluster, error) {
	if opt.Nodes < 1 || opt.Nodes > 25000 {
		return nil, fmt.Errorf("sim: Options.Nodes is %d; want 1 to 25000", opt.Nodes)
	}
	c := &Cluster{opt: opt, net: simnet.New(opt.Seed), nodes: map[string]*cluster.Node{}, ips: map[string]string{}, clocks: map[string]*physClock{}, paused: map[string]int{}}
	for i := 1; i <= opt.Nodes; i++ {
		name := fmt.Sprintf("n%d", i)
		c.ips[name] = fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250)
		c.clocks[name] = newPhysClock()
		if _, err := c.startNode(name); err != nil {
			c.Close()
			return nil, err
		}
	}
	seed := c.Node("n1").Addr()
	for _, n := range c.Nodes()[1:] {
		if _, err := n.Join(ctx, seed); err != nil {
			c.Close()
			return nil, fmt.Errorf("sim: %s joins: %w", n.Name(), err)
		}
	}
	if err := c.WaitConverged(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startNode(name string) (*cluster.Node, error) {
	c.mu.Lock()
	ip := c.ips[name]
	c.mu.Unlock()
	n, err := cluster.New(cluster.Config{
		Name:      name,
		BindAddr:  ip + ":7946",
		SecretKey: c.opt.SecretKey,
		Profile:   c.opt.Profile,
		Network:   c.net.Host(ip),
		Logger:    c.opt.Logger,
		Clock:     c.physClock(name),
		DataDir:   c.dataDir(name),
	})
	if err != nil {
		return nil, fmt.Errorf("sim: start %s: %w", name, err)
	}
	c.mu.Lock()
	c.nodes[name] = n
	c.mu.Unlock()
	return n, nil
}

// dataDir returns node name's DataDir ("" for none).
func (c *Cluster) dataDir(name string) string {
	if c.opt.DataDir == "" {
		return ""
	}
	return filepath.Join(c.opt.DataDir, name)
}

// Net returns the simulated network, for finer faults (one-way blocks,
// per-link loss) and its counters.
func (c *Cluster) Net() *simnet.Net { return c.net }

// Names returns the names of all nodes, alive or crashed, in order.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.ips))
	for name := range c.ips {
		out = append(out, name)
	}
	slices.SortFunc(out, compareNames)
	return out
}

// compareNames orders "n2" before "n10".
func compareNames(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// startWorkload runs start on every alive node of c, and then, through
// h's OnStart, on every node that starts later (a restart or a join),
// together with h's other hooks. If a first start fails it calls stop and
// returns the error; the error of a later start goes to onErr.
func startWorkload(c *Cluster, start func(*cluster.Node) error, stop func(), onErr func(error), h Hooks) error {
	for _, n := range c.Nodes() {
		if err := start(n); err != nil {
			stop()
			return err
		}
	}
	h.OnStart = func(n *cluster.Node) {
		if err := start(n); err != nil {
			onErr(err)
		}
	}
	c.AddHooks(h)
	return nil
}

// Nodes returns the alive nodes, in name order.
func (c *Cluster) Nodes() []*cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*cluster.Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *cluster.Node) int { return compareNames(a.Name(), b.Name()) })
	return out
}

// Node returns the alive node with that name, or nil.
func (c *Cluster) Node(name string) *cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// Partition cuts every link between nodes in different groups (names).
// A node in no group keeps all its links. It replaces any earlier
// partition.
func (c *Cluster) Partition(groups ...[]string) {
	c.mu.Lock()
	ipGroups := make([][]string, len(groups))
	for i, g := range groups {
		for _, name := range g {
			ipGroups[i] = append(ipGroups[i], c.ips[name])
		}
	}
	c.groups = groups
	c.mu.Unlock()
	c.net.Partition(ipGroups...)
}

// Heal removes the partition (not loss or delay).
func (c *Cluster) Heal() {
	c.mu.Lock()
	c.groups = nil
	c.mu.Unlock()
	c.net.Heal()
}

// Crash stops a node without leaving: its traffic vanishes at once and
// the others detect a failure. Crashing a crashed node does nothing.
func (c *Cluster) Crash(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	ip := c.ips[name]
	c.mu.Unlock()
	if n == nil {
		return
	}
	c.net.SetDown(ip, true)
	for _, h := range c.hookList() {
		if h.OnCrash != nil {
			h.OnCrash(name)
		}
	}
	n.Close()
}

// Restart starts a crashed node again under the same name and address and
// joins it through the other alive nodes.
func (c *Cluster) Restart(ctx context.Context, name string) (*cluster.Node, error) {
	c.mu.Lock()
	ip, known := c.ips[name]
	alive := c.nodes[name] != nil
	c.mu.Unlock()
	if !known || alive {
		return nil, fmt.Errorf("sim: restart %s: not a crashed node of this cluster", name)
	}
	c.net.SetDown(ip, false)
	return c.startJoin(ctx, "restart", name)
}

// startJoin starts node name, joins it through the other alive nodes and
// runs the start hooks. A failed join (ctx ended first) is returned, for
// op, after the hooks ran: the node runs, as a process whose join failed
// would, and gossip may still bring it in.
func (c *Cluster) startJoin(ctx context.Context, op, name string) (*cluster.Node, error) {
	n, err := c.startNode(name)
	if err != nil {
		return nil, err
	}
	var seeds []string
	for _, m := range c.Nodes() {
		if m != n {
			seeds = append(seeds, m.Addr())
		}
	}
	if len(seeds) > 0 {
		if _, jerr := n.Join(ctx, seeds...); jerr != nil {
			err = fmt.Errorf("sim: %s %s: join: %w", op, name, jerr)
		}
	}
	for _, h := range c.hookList() {
		if h.OnStart != nil {
			h.OnStart(n)
		}
	}
	return n, err
}

// Pause freezes node name's process for d, as a long GC pause or a
// stopped VM would: it neither sends nor receives anything, and then
// goes on where it was. It returns at once; the thaw happens after d on
// a time.AfterFunc callback (virtual time in a synctest bubble).
//
// It is made on the network: the node's links are cut for d (see
// Net.SetPaused; open streams are reset, as a peer's keepalive would
// after a long stall), while its goroutines and timers keep running, so
// the node sees its calls time out rather than stand still. The freeze
// is independent of Partition and Heal: a Heal during the pause does not
// thaw the node, and the partition in force when it thaws applies.
// Pausing an unknown or crashed node does nothing.
func (c *Cluster) Pause(name string, d time.Duration) {
	c.mu.Lock()
	alive := c.nodes[name] != nil
	ip := c.ips[name]
	c.mu.Unlock()
	if !alive {
		return
	}
	c.mu.Lock()
	c.paused[name]++
	c.mu.Unlock()
	c.net.SetPaused(ip, true)
	for _, h := range c.hookList() {
		if h.OnPause != nil {
			h.OnPause(name)
		}
	}
	time.AfterFunc(d, func() {
		c.mu.Lock()
		if c.paused[name]--; c.paused[name] <= 0 {
			delete(c.paused, name)
		}
		c.mu.Unlock()
		c.net.SetPaused(ip, false)
		for _, h := range c.hookList() {
			if h.OnResume != nil {
				h.OnResume(name)
			}
		}
	})
}

// Leave makes node name leave the cluster gracefully (the others see a
// leave and lower their quorum basis), then closes it. Crash hooks run,
// between the leave and the close. Restart starts it again.
func (c *Cluster) Leave(ctx context.Context, name string) error {
	n := c.Node(name)
	if n == nil {
		return fmt.Errorf("sim: leave %s: not an alive node of this cluster", name)
	}
	err := n.Leave(ctx)
	c.mu.Lock()
	delete(c.nodes, name)
	c.mu.Unlock()
	for _, h := range c.hookList() {
		if h.OnCrash != nil {
			h.OnCrash(name)
		}
	}
	return errors.Join(err, n.Close())
}

// Add starts a new node, named after the last one ("n6" after "n5"),
// joins it through the alive nodes and runs the start hooks.
func (c *Cluster) Add(ctx context.Context) (*cluster.Node, error) {
	c.mu.Lock()
	i := len(c.ips) + 1
	name := fmt.Sprintf("n%d", i)
	c.ips[name] = fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250)
	c.clocks[name] = newPhysClock()
	c.mu.Unlock()
	return c.startJoin(ctx, "add", name)
}

// Block cuts one direction: nothing from node from reaches node to
// (Net.Block). Heal undoes it.
func (c *Cluster) Block(from, to string) {
	c.mu.Lock()
	a, b := c.ips[from], c.ips[to]
	c.mu.Unlock()
	c.net.Block(a, b)
}

// SetLoss sets the packet loss probability of every link, 0..1.
func (c *Cluster) SetLoss(p float64) { c.net.SetLoss(p) }

// SetDelay sets the per-message delay range.
func (c *Cluster) SetDelay(min, max time.Duration) { c.net.SetDelay(min, max) }

// Clock returns the wall reading of node name's simulated physical
// clock, to pass to clock.Source: its skew, drift and jumps. The node's
// services other than its clock read the machine's clock as its
// cluster.Clock (Node.Clock), which has the skew and the drift but not
// the jumps. The clock belongs to the machine, so it keeps running across
// crashes and restarts, and SetSkew, SetDrift and Jump apply to it at
// once. Clock returns nil for an unknown name.
func (c *Cluster) Clock(name string) func() time.Time {
	if pc := c.physClock(name); pc != nil {
		return pc.wall
	}
	return nil
}

// physClock returns node name's physical clock, or nil.
func (c *Cluster) physClock(name string) *physClock {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clocks[name]
}

// SetSkew sets node name's physical clock to read real time plus d now,
// its wall reading and the readings its leases measure time with: the
// machine's setting, for before its services start (see Jump).
func (c *Cluster) SetSkew(name string, d time.Duration) {
	if pc := c.physClock(name); pc != nil {
		pc.setSkew(d)
	}
}

// Jump steps the wall reading of node name's physical clock by d, as a
// step of a real machine's time does: its cluster clock sees it, its
// leases (which measure with monotonic readings) do not.
func (c *Cluster) Jump(name string, d time.Duration) {
	if pc := c.physClock(name); pc != nil {
		pc.stepWall(d)
	}
}

// SetDrift makes node name's physical clock run fast (ppm > 0) or slow by
// ppm parts per million from now on, without a step.
func (c *Cluster) SetDrift(name string, ppm float64) {
	if pc := c.physClock(name); pc != nil {
		pc.setDrift(ppm)
	}
}

// Expected returns the members node name should see: the alive nodes it
// can reach under the current partition and pauses, in name order.
func (c *Cluster) Expected(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for other := range c.nodes {
		if c.sameSideLocked(name, other) {
			out = append(out, other)
		}
	}
	slices.Sort(out) // Members sorts by plain string order
	return out
}

// sameSideLocked reports whether two nodes are not cut apart: neither
// is paused and a partition does not separate them. A node in no
// group (a bridge) is on every side; with bridges, gossip may still carry
// news across the cut, so views are only approximately Expected.
func (c *Cluster) sameSideLocked(a, b string) bool {
	if a != b && (c.paused[a] > 0 || c.paused[b] > 0) {
		return false
	}
	ga, gb := groupOf(c.groups, a), groupOf(c.groups, b)
	return ga < 0 || gb < 0 || ga == gb
}

func groupOf(groups [][]string, name string) int {
	for i, g := range groups {
		if slices.Contains(g, name) {
			return i
		}
	}
	return -1
}

// Converged reports whether every alive node sees exactly Expected.
func (c *Cluster) Converged() bool {
	for _, n := range c.Nodes() {
		var got []string
		for _, m := range n.Members() {
			got = append(got, m.Name)
		}
		if !slices.Equal(got, c.Expected(n.Name())) {
			return false
		}
	}
	return true
}

// WaitConverged polls Converged every 10 ms until it holds or ctx ends.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.Converged() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sim: cluster did not converge: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Close crashes every alive node and waits for them to stop.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes() {
		c.mu.Lock()
		delete(c.nodes, n.Name())
		c.mu.Unlock()
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}
