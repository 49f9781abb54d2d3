package election

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/voters"
)

// Leader is a leader of a group as seen by one node. The zero value (ID
// "") means no leader.
type Leader struct {
	ID   string // the candidate id passed to Elect
	Node string // the node it runs on
	Term uint64 // its term: unique to this lease and greater than every earlier one
}

// Elector campaigns in, and watches, one election group on one node. Make
// one per group and node; every node that should count towards the
// majority must have an Elector (for any group), because a node votes
// only while it has one. Safe for concurrent use.
type Elector struct {
	node       *cluster.Node
	clk        cluster.Clock // the node's: leases are measured on it
	svc        *voters.Service
	releaseSvc func()        // drops this Elector's reference to svc
	w          *watch        // the leader as announced by gossip
	unlisten   func()        // stops w's broadcasts and release notices
	made       time.Time     // when New made it: w listens since
	inc        uint64        // drawn by New: orders announcements with seq
	seq        atomic.Uint64 // counts announcements (see announcement.Seq)
	handles    atomic.Uint64 // numbers the campaigns (see candidate.holder), from a random start
	group      string
	prio       int
	ttl        time.Duration
	// noPreempt: do not depose a live leader of lower rank.
	noPreempt bool

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	// wg counts the goroutines Close waits for: leases' renew loops,
	// Follow, and clean-up left running by calls that returned (see
	// goCleanup).
	wg sync.WaitGroup

	stats counters // see Stats

	mu      sync.Mutex // protects closed and leading
	closed  bool
	leading map[*tenure]*Elected // the leases being renewed
	// ledUntil: when this Elector's last tenure was revoked (see
	// campaign's settle); nil if none was.
	ledUntil atomic.Pointer[time.Time]

	// testHook, set only by tests, is called at the points named by the
	// hook constants; a hook that sleeps stands in for a process frozen
	// there. Nil in production.
	testHook func(point string)
}

// Points at which testHook is called.
const (
	hookWon     = "won"     // a claim won, before the lease is installed and Elect returns
	hookRenewed = "renewed" // a heartbeat round won, before the lease is extended
)

func (e *Elector) hook(point string) {
	if e.testHook != nil {
		e.testHook(point)
	}
}

// goCleanup runs f, which must end within a bounded time, on a goroutine
// that Close waits for, so that a call can return by its ctx's deadline
// and leave clean-up (freeing grants) running. On a closed Elector it
// drops f: the voters free what f would have within their hold
// (1.25 TTL).
func (e *Elector) goCleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// New makes an Elector for a group on n. It starts voting in every group
// at once; it does not campaign until Elect.
func New(n *cluster.Node, opts ...Option) (*Elector, error) {
	if n == nil {
		return nil, errors.New("election: New: nil node")
	}
	o := options{group: DefaultGroup, ttl: defaultTTL(n.Profile())}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	e := &Elector{node: n, clk: n.Clock(), group: o.group, prio: o.priority, ttl: o.ttl, noPreempt: o.noPreempt, leading: map[*tenure]*Elected{}, w: newWatch(n.Clock())}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.svc, e.releaseSvc = voters.Acquire(n)
	e.made, e.inc = e.clk.Now(), rand.Uint64()
	unlisten, leave := e.w.listen(n, e.group), joinBoard(n, e.group, e.w)
	e.unlisten = func() { unlisten(); leave() }
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.forgetFailed()
	}()
	// Campaigns of an Elector made after a restart must not be taken for
	// the old incarnation's (the voters would answer its claim as a
	// retry of the old one's and return the old term): numbers start at
	// random.
	e.handles.Store(rand.Uint64() >> 1)
	return e, nil
}

// Elect campaigns as candidate id and blocks until it leads the group,
// ctx is done (ctx.Err(), wrapped with ErrNoQuorum if this node could not
// reach the voters) or the Elector closes (ErrClosed). Among live
// candidates the highest in bully order (Priority, then node name, then
// id) leads; a lower candidate waits while a higher one campaigns. A
// candidate leads only once the voters granted its term, so where they
// have no majority Elect keeps waiting. While the voters still hold an
// earlier lease of the same candidate (it leads, or it lost the lease a
// moment ago), Elect waits for that lease to end.
//
// Elect returns only a lease that is valid when it returns. If the
// process froze between winning a claim and returning, so that the
// lease ran out unused, it frees that term's grants in the background and
// campaigns again, while ctx allows. It returns by ctx's deadline: the
// clean-up of a round cut short (freeing the grants of a lost claim) goes
// on in the background, bounded, and Close waits for it.
func (e *Elector) Elect(ctx context.Context, id string) (*Elected, error) {
	if id == "" {
		return nil, errors.New("election: Elect: empty candidate id")
	}
	el := &Elected{e: e, cand: candidate{ID: id, Node: e.node.Name(), Priority: e.prio}}
	if err := el.campaign(ctx); err != nil {
		return nil, err
	}
	return el, nil
}

// Leader returns the group's current leader as this node knows it: the
// last leader announced by gossip, until its end is announced or it goes
// unannounced for 1.25 TTL. A node hears of a new leader within a few
// gossip rounds. It returns ErrNoLeader when no leader is known here, and
// ctx.Err() if ctx is done.
func (e *Elector) Leader(ctx context.Context) (Leader, error) {
	if err := e.check(ctx); err != nil {
		return Leader{}, err
	}
	l, _, _ := e.w.view()
	if l.ID == "" {
		return Leader{}, ErrNoLeader
	}
	return l, nil
}

// Follow returns a channel that receives the current leader at once and
// then every change of leader as this node sees it; the zero Leader means
// the group has none. A slow reader gets the latest value, not every one.
// The channel closes when ctx is done or the Elector closes.
func (e *Elector) Follow(ctx context.Context) <-chan Leader {
	out := make(chan Leader, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		close(out)
		return out
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(out)
		e.follow(ctx, out)
	}()
	return out
}

func (e *Elector) follow(ctx context.Context, out chan Leader) {
	var last Leader
	first := true
	for {
		l, expiry, changed := e.w.view()
		if first || l != last {
			select { // keep only the latest value for a slow reader
			case <-out:
			default:
			}
			out <- l
			last, first = l, false
		}
		wait := time.Hour // nothing expires: wait for a change
		if l.ID != "" {
			wait = expiry.Sub(e.clk.Now())
		}
		if e.wait(ctx, changed, wait) != nil {
			return
		}
	}
}

// Close resigns every lease this Elector holds, stops its campaigns (Elect
// returns ErrClosed) and Follow channels, and waits for its goroutines,
// including the clean-up that calls left running when they returned at
// their deadline (each bounded by half a lease). The node keeps voting
// while it has another Elector. Idempotent.
func (e *Elector) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	leading := e.leading
	e.leading = nil
	e.mu.Unlock()
	for t, el := range leading {
		el.mu.Lock()
		t.giveUpLocked()
		el.mu.Unlock()
	}
	e.cancel()
	e.wg.Wait()
	e.unlisten()
	e.releaseSvc()
	return nil
}

// forgetFailed drops, until Close, what the watch knows of the
// candidates and leaders of every member the cluster reports failed or
// gone (see watch.forgetNode). An event dropped for want of room costs
// only time: the entries expire on their own.
func (e *Elector) forgetFailed() {
	for ev := range e.node.Watch(e.ctx, 64).C {
		if (ev.Type == cluster.EventFail || ev.Type == cluster.EventLeave) && ev.Member.Name != e.node.Name() {
			e.w.forgetNode(ev.Member.Name)
		}
	}
}

// check returns ErrClosed or ctx's error, if any.
func (e *Elector) check(ctx context.Context) error {
	if e.ctx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}

// wait blocks until changed closes, d (at least minWait) passes, ctx is
// done or the Elector closes.
func (e *Elector) wait(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	t := e.clk.NewTimer(max(d, minWait))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
	case <-e.ctx.Done():
	}
	return e.check(ctx)
}

// minWait is the shortest wait between two rounds of a campaign. A lease
// seen with a few nanoseconds left must not make the campaign survey again
// at once: in real time that spins for those nanoseconds, and on a virtual
// clock (testing/synctest), where time stands still while anything can
// run, it would spin forever.
const minWait = time.Millisecond

// jitter returns a random duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (e *Elector) String() string { return fmt.Sprintf("election %s on %s", e.group, e.node.Name()) }
