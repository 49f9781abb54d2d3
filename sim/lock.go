package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/sim/check"
)

// LockOptions configures a lock workload. The zero value of each field
// means its documented default.
type LockOptions struct {
	// IDs is how many lock ids the clients contend on: "lock-0" and up.
	// Default 3.
	IDs int
	// Clients is how many clients loop on each node. Default 2.
	Clients int
	// TTL is every lease's TTL. Default 1 s.
	TTL time.Duration
	// Wait is how long an Acquire waits before it gives up. Default 5 s.
	Wait time.Duration
	// LockDelay is every Manager's LockDelay. Default TTL + TTL/4, the
	// least Acquire allows.
	LockDelay time.Duration
	// MaxHold bounds how long a client holds a lock: uniformly from 0 to
	// MaxHold. Default TTL/2.
	MaxHold time.Duration
	// Seed seeds the clients' choices of id and hold time.
	Seed int64
	// Unsafe runs every Manager with lockmgr.Quorum(false), which does not
	// keep L1-L3 under partitions, and the clients' writes without the
	// Fence, so a paused holder's late write lands.
	Unsafe bool
}

func (o *LockOptions) defaults() {
	o.IDs = cmpOr(o.IDs, 3)
	o.Clients = cmpOr(o.Clients, 2)
	o.TTL = cmpOr(o.TTL, time.Second)
	o.Wait = cmpOr(o.Wait, 5*time.Second)
	o.LockDelay = cmpOr(o.LockDelay, o.TTL+o.TTL/4)
	o.MaxHold = cmpOr(o.MaxHold, o.TTL/2)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// LockWorkload runs lock clients on every node of a Cluster: each loops
// Acquire, write through one shared lockmgr.Fence, hold, Release, and
// every grant is recorded. Restarted nodes get a new Manager and clients;
// clients of a paused node write once more with their old token when the
// pause ends. Safe for concurrent use.
type LockWorkload struct {
	c     *Cluster
	opt   LockOptions
	mopts []lockmgr.Option
	ids   []string
	fence lockmgr.Fence
	begin time.Time

	closing sync.WaitGroup // Managers of crashed nodes still closing

	mu       sync.Mutex // protects the fields below
	grants   []check.Grant
	open     map[int]bool // indexes of grants not ended
	running  map[string]*lockNode
	starts   map[string]int // how often a node's clients started, for seeds
	paused   map[string]int // nodes paused now, with nesting
	pending  map[string][]int
	heals    []time.Time
	late     check.LateWrites
	errs     map[string]int
	firstErr string // the first error of kind "other"
	closed   bool
	ended    time.Time
}

type lockNode struct {
	m      *lockmgr.Manager
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartLocks starts a lockmgr.Manager and opts.Clients clients on every
// alive node of c, and follows crashes, restarts and pauses.
func StartLocks(c *Cluster, opts LockOptions) (*LockWorkload, error) {
	opts.defaults()
	w := &LockWorkload{c: c, opt: opts, begin: time.Now(),
		mopts:   []lockmgr.Option{lockmgr.LockDelay(opts.LockDelay), lockmgr.Quorum(!opts.Unsafe)},
		open:    map[int]bool{},
		running: map[string]*lockNode{}, starts: map[string]int{}, paused: map[string]int{},
		pending: map[string][]int{}, errs: map[string]int{},
	}
	for i := range opts.IDs {
		w.ids = append(w.ids, fmt.Sprintf("lock-%d", i))
	}
	onErr := func(err error) { w.countErr("other", err) }
	if err := startWorkload(c, w.start, w.Close, onErr, Hooks{OnCrash: w.crashed, OnPause: w.Paused, OnResume: w.Resumed}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *LockWorkload) start(n *cluster.Node) error {
	m, err := lockmgr.New(n, w.mopts...)
	if err != nil {
		return fmt.Errorf("sim: lock manager on %s: %w", n.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln := &lockNode{m: m, cancel: cancel}
	name := n.Name()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		cancel()
		return m.Close()
	}
	w.running[name] = ln
	w.starts[name]++
	incarnation := w.starts[name]
	w.mu.Unlock()
	for i := range w.opt.Clients {
		rng := rand.New(rand.NewPCG(uint64(w.opt.Seed), seedOf(name, incarnation, i)))
		ln.wg.Go(func() { w.client(ctx, name, m, rng) })
	}
	return nil
}

func seedOf(node string, incarnation, client int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d", node, incarnation, client)
	return h.Sum64()
}

// client loops until ctx ends: acquire a random id, write, hold, release.
func (w *LockWorkload) client(ctx context.Context, node string, m *lockmgr.Manager, rng *rand.Rand) {
	for ctx.Err() == nil {
		id := w.ids[rng.IntN(len(w.ids))]
		called := time.Now()
		l, err := m.Acquire(ctx, id, lockmgr.TTL(w.opt.TTL), lockmgr.Wait(w.opt.Wait))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.countErr(errKind(err), err)
			sleepCtx(ctx, time.Duration(rng.Int64N(int64(w.opt.TTL/4)+1)))
			continue
		}
		g := check.Grant{ID: id, Token: l.Token(), Node: node, Called: called, Start: time.Now()}
		// Write before recording: a recorded grant has written, which
		// the late writes of paused clients rely on.
		g.Stale = errors.Is(w.write(id, l.Token()), lockmgr.ErrStaleToken)
		i := w.record(g)
		if !w.hold(ctx, i, l, time.Duration(rng.Int64N(int64(w.opt.MaxHold)+1))) {
			return
		}
	}
}

// hold keeps the lock for d, or until Done closes or ctx ends, then ends
// grant i. It reports false when ctx ended.
func (w *LockWorkload) hold(ctx context.Context, i int, l *lockmgr.Lock, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		w.end(i, true) // the client stops using the lock when it calls Release
		rctx, cancel := context.WithTimeout(context.Background(), w.opt.TTL)
		defer cancel()
		l.Release(rctx) // ErrNotHeld if the lease ended meanwhile: Done tells
		return true
	case <-l.Done():
		w.end(i, false)
		return true
	case <-ctx.Done():
		// The node crashed (its messages go nowhere now) or the workload
		// stops. Release anyway, so that the Manager's Close finds no
		// lock: lockmgr.Manager.Close iterates its locks without its
		// mutex, racing with a lock whose lease ends meanwhile.
		w.end(i, false)
		rctx, cancel := context.WithTimeout(context.Background(), w.opt.TTL)
		defer cancel()
		l.Release(rctx)
		return false
	}
}

// errKind classifies an Acquire error for the History's counts.
func errKind(err error) string {
	for _, k := range []struct {
		err  error
		kind string
	}{{lockmgr.ErrNoQuorum, "no quorum"}, {lockmgr.ErrTimeout, "wait timed out"}, {lockmgr.ErrClosed, "closed"}} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return "other"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (w *LockWorkload) record(g check.Grant) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	g.Paused = w.paused[g.Node] > 0
	w.grants = append(w.grants, g)
	i := len(w.grants) - 1
	w.open[i] = true
	if g.Paused {
		w.pending[g.Node] = append(w.pending[g.Node], i)
	}
	return i
}

func (w *LockWorkload) end(i int, released bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open[i] {
		w.grants[i].End, w.grants[i].Released = time.Now(), released
		delete(w.open, i)
	}
}

func (w *LockWorkload) countErr(kind string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs[kind]++
	if kind == "other" && w.firstErr == "" {
		w.firstErr = err.Error()
	}
}

// Paused marks the grants held on node as paused: their clients keep
// "working", and write once more with their token when Resumed. Cluster
// hooks call it; a test that freezes a node otherwise may too.
func (w *LockWorkload) Paused(node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.paused[node]++
	for i := range w.open {
		if g := &w.grants[i]; g.Node == node && !g.Paused {
			g.Paused = true
			w.pending[node] = append(w.pending[node], i)
		}
	}
}

// Resumed makes the late writes of node's paused holders, once the last
// pause of node ended.
func (w *LockWorkload) Resumed(node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused[node]--; w.paused[node] > 0 {
		return
	}
	delete(w.paused, node)
	for _, i := range w.pending[node] {
		w.lateWriteLocked(w.grants[i])
	}
	delete(w.pending, node)
}

func (w *LockWorkload) lateWriteLocked(g check.Grant) {
	newer := slices.ContainsFunc(w.grants, func(o check.Grant) bool { return o.ID == g.ID && o.Token > g.Token })
	switch err := w.write(g.ID, g.Token); {
	case errors.Is(err, lockmgr.ErrStaleToken):
		w.late.Rejected++
	case newer:
		w.late.Accepted++
	default:
		w.late.Harmless++
	}
}

// Healed records that the faults healed at t, for L4.
func (w *LockWorkload) Healed(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.heals = append(w.heals, t)
}

// Coordinators returns the coordinator of each lock id (see
// lockmgr.Manager.Coordinator) as the first alive node running a Manager
// sees it, without repeats, in id order. It is empty when no Manager runs.
func (w *LockWorkload) Coordinators() []string {
	var m *lockmgr.Manager
	for _, n := range w.c.Nodes() {
		w.mu.Lock()
		ln := w.running[n.Name()]
		w.mu.Unlock()
		if ln != nil {
			m = ln.m
			break
		}
	}
	var out []string
	if m == nil {
		return out
	}
	for _, id := range w.ids {
		if c := m.Coordinator(id); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// write is a client's write to the shared store, with its token: the
// Fence judges it, or, in Unsafe mode, nothing does (every write lands).
func (w *LockWorkload) write(id string, token uint64) error {
	if w.opt.Unsafe {
		return nil
	}
	return w.fence.Check(id, token)
}

// Holders returns the nodes that hold a lock now, in name order.
func (w *LockWorkload) Holders() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for i := range w.open {
		if n := w.grants[i].Node; !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, compareNames)
	return out
}

// crashed stops a crashed node's clients: their holds end now.
func (w *LockWorkload) crashed(name string) {
	w.mu.Lock()
	ln := w.running[name]
	delete(w.running, name)
	delete(w.pending, name) // a dead process writes nothing late
	w.mu.Unlock()
	if ln == nil {
		return
	}
	ln.cancel()
	ln.wg.Wait()
	w.closing.Go(func() { ln.m.Close() })
}

// History returns a copy of what was recorded so far.
func (w *LockWorkload) History() check.LockHistory {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.ended
	if end.IsZero() {
		end = time.Now()
	}
	errs := make(map[string]int, len(w.errs))
	for k, v := range w.errs {
		errs[k] = v
	}
	return check.LockHistory{Grants: slices.Clone(w.grants), Heals: slices.Clone(w.heals), Late: w.late,
		Errors: errs, FirstOther: w.firstErr, Begin: w.begin, End: end}
}

// Close stops every client (open holds end now) and closes the Managers.
func (w *LockWorkload) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	running := w.running
	w.running = map[string]*lockNode{}
	w.mu.Unlock()
	for _, ln := range running {
		ln.cancel()
	}
	for _, ln := range running {
		ln.wg.Wait()
	}
	w.mu.Lock()
	w.ended = time.Now()
	w.mu.Unlock()
	for _, ln := range running {
		ln.m.Close()
	}
	w.closing.Wait()
}
