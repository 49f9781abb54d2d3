package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Join joins the cluster through seeds, each in one of these forms (the
// prefixes are those of Grafana's dskit):
//
//   - "ip:port", or "ip" for port 7946 (DefaultPort);
//   - "dns+host:port", or "dns+host" for port 7946: every A and AAAA
//     record of host is a seed, at port;
//   - "dnssrv+name", e.g. "dnssrv+_gossip._tcp.svc.ns.svc.cluster.local":
//     every SRV record of name is a seed, the A and AAAA records of its
//     target at its port.
//
// Names are looked up with Config.Resolver, again on every attempt. This
// node's own address among the seeds is skipped, so every instance of a
// service can be given the same seeds (a Kubernetes headless Service
// that lists them all). A seed that cannot be parsed (a host name
// without "dns+", a bad port, an unknown prefix) fails the Join at once
// with ErrBadSeed, naming it.
//
// An attempt opens an RPC connection to every seed address at once (a
// seed that does not answer costs no more than a quarter of a second
// after another one answered), so that a wrong secret key (ErrAuth) or
// a name already in use (ErrDuplicateName) is reported at once instead
// of failing silently, then joins the gossip through those that
// answered. While no seed can be contacted (none answers, a name has no
// address yet, or its lookup fails), Join tries again after a wait that
// starts at 100 ms and doubles up to 5 s, each drawn from the upper half
// of its value (jitter, so that nodes started together do not retry in
// step; Local profile: 50 ms to 1 s; WAN: 200 ms to 15 s), so that a
// node started before its peers waits for them. It returns the number of seed addresses
// contacted; an error only when the cluster refused this node (ErrAuth,
// ErrDuplicateName: returned at once, since waiting does not mend
// them), the node closed (ErrClosed) or left, or ctx ended first. In
// the last case the error wraps ctx.Err() and the last lookup error, if
// any (errors.As finds a *net.DNSError), and says why the last attempt
// failed.
//
// So Join waits as long as ctx lets it, and a ctx without deadline
// waits for ever for an unreachable seed: give ctx a deadline where a
// cluster that cannot be reached must be reported (a command line
// tool, a test; a short one for a single attempt), and none in a
// service that should wait for its peers however long they take (it
// returns when the service stops and cancels ctx). Join used to give up
// after one attempt; the callers in this repository that join seeds
// that may be down give a deadline or retry themselves.
//
// If ctx ends while a gossip join is under way, Join returns and the
// join may still complete in the background; if no Join of this node
// ever succeeds, Close then leaves gracefully, so that a node admitted
// behind a failed Join does not stay in the others' quorum basis as a
// failed member.
//
// Rejoining when alone: after a Join that succeeded, a node that sees
// no other alive member for 5 s (Local: 1 s; WAN: 30 s) joins the seeds
// of its last successful Join again, in the background, looking the
// names up again, with the same backoff, until it sees another member,
// leaves or closes. That mends a node that was cut off long enough to
// be declared failed, and a node whose peers all restarted at new
// addresses (pods rescheduled), which serf's own reconnection, to the
// addresses it knew, cannot find. A node whose peers all left keeps
// trying, every 2.5 to 5 s on LAN (a lookup per name and a dial per
// address each time).
func (n *Node) Join(ctx context.Context, seeds ...string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	if n.rejoinCtx.Err() != nil {
		return 0, errors.New("cluster: join: the node has left the cluster")
	}
	if len(seeds) == 0 {
		return 0, errors.New("cluster: join: no seeds given")
	}
	parsed, err := parseSeeds(seeds)
	if err != nil {
		return 0, errtext.Errorf("cluster: ", "cluster: join: %w", err)
	}
	n.joinAsked.Store(true)
	c, err := n.joinSeeds(ctx, parsed)
	if err != nil {
		return 0, err
	}
	n.joined.Store(true)
	n.watchAlone(parsed)
	return c, nil
}

// JoinPending reports whether Join was called and this node has not yet
// exchanged its state with another node in a join: neither a join of
// its own through another node (a seed that is this node itself does not
// count) nor another node's join through it. Until then it may know few
// of the cluster's members. The voter service never founds a group on
// such a node.
func (n *Node) JoinPending() bool { return n.joinAsked.Load() && !n.knowsOthers.Load() }

// joinWatch is memberlist's merge delegate, which memberlist calls on
// the state exchange of a join, in either direction (this node joining,
// or another joining through it; never on the periodic exchanges): the
// other side's state naming another node ends JoinPending.
type joinWatch struct{ n *Node }

func (w joinWatch) NotifyMerge(nodes []*memberlist.Node) error {
	for _, m := range nodes {
		if m.Name != w.n.cfg.Name {
			w.n.knowsOthers.Store(true)
			break
		}
	}
	return nil
}

func (n *Node) serfJoin(ctx context.Context, addrs []string) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	ended := make(chan struct{})
	if !n.spawn(func() {
		defer close(ended)
		c, err := n.serf.Join(addrs, true)
		done <- result{c, err}
	}) {
		return 0, ErrClosed
	}
	n.joining.Store(&ended)
	select {
	case r := <-done:
		if r.err != nil && r.n == 0 {
			return 0, errtext.Errorf("cluster: ", "cluster: join: %w", r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// greetGrace is how long greetAll waits for the other seeds once one
// answered.
const greetGrace = 250 * time.Millisecond

// greetAll greets every target at once, so that a seed that does not
// answer (a crashed host, a partition: a dial there hangs until its
// deadline) does not use up ctx before the others are tried. It returns
// when every target answered or failed, or greetGrace after the first
// answer, with the addresses that answered and why the others did not
// (those still pending are not listed). A wrong key or a name in use is
// returned as err at once; ctx's end too, if no target answered by then.
func (n *Node) greetAll(ctx context.Context, targets []target) (ok, errs []string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type greeting struct {
		t   target
		err error
	}
	results := make(chan greeting, len(targets))
	for _, t := range targets {
		greet := func() { results <- greeting{t, n.greet(ctx, t.addr)} }
		if !n.spawn(greet) { // Close waits for the greetings it did not cancel
			return nil, nil, ErrClosed
		}
	}
	var grace <-chan time.Time
	for range targets {
		var g greeting
		select {
		case g = <-results:
		case <-grace:
			return ok, errs, nil
		case <-ctx.Done():
			if len(ok) == 0 {
				return nil, errs, ctx.Err()
			}
			return ok, errs, nil
		}
		switch {
		case errors.Is(g.err, ErrAuth) || errors.Is(g.err, ErrDuplicateName) || errors.Is(g.err, ErrClosed):
			return nil, nil, errtext.Errorf("cluster: ", "cluster: join %s: %w", g.t.label(), g.err)
		case g.err != nil:
			errs = append(errs, fmt.Sprintf("%s: %v", g.t.label(), g.err))
		case !slices.Contains(ok, g.t.addr):
			ok = append(ok, g.t.addr)
			if grace == nil {
				t := time.NewTimer(greetGrace)
				defer t.Stop()
				grace = t.C
			}
		}
	}
	return ok, errs, nil
}

// greet opens (and keeps) an RPC connection to a seed.
func (n *Node) greet(ctx context.Context, addr string) error {
	if addr == n.addr {
		return nil
	}
	_, err := n.dialRPC(ctx, addr)
	return err
}

// Leave announces a graceful departure and waits until it has spread (or
// ctx ends): the others see a leave, not a failure, and lower their quorum
// basis. First it runs the functions registered with BeforeLeave (a voter
// hands its place over), in the order registered, each within ctx. The
// node keeps its listeners until Close, but no longer joins its seeds
// again when alone (see Join), and a Join after Leave fails.
func (n *Node) Leave(ctx context.Context) error {
	if n.closed.Load() {
		return ErrClosed
	}
	n.stopRejoin() // a node that leaves does not join again when alone
	n.mu.Lock()
	hooks := make([]func(context.Context), 0, len(n.beforeLeave))
	for _, h := range n.beforeLeave {
		hooks = append(hooks, h.f)
	}
	n.mu.Unlock()
	for _, f := range hooks {
		f(ctx)
	}
	done := make(chan error, 1)
	if !n.spawn(func() { done <- n.serfLeave() }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		if err != nil {
			return errtext.Errorf("cluster: ", "cluster: leave: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BeforeLeave registers f to run at the start of Leave, before the
// departure is announced, with Leave's ctx; f must return by ctx's end.
// It returns a function that unregisters f. Packages that hold a role in
// the cluster (a voter) use it to hand the role over.
func (n *Node) BeforeLeave(f func(ctx context.Context)) (unregister func()) {
	h := &leaveHook{f: f}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.beforeLeave = append(n.beforeLeave, h)
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.beforeLeave = slices.DeleteFunc(n.beforeLeave, func(x *leaveHook) bool { return x == h })
	}
}

type leaveHook struct{ f func(context.Context) }

// serfLeave leaves the gossip unless Close has begun: serf panics on a
// leave after its shutdown, and Close shuts serf down under leaveMu.
func (n *Node) serfLeave() error {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	if n.closed.Load() {
		return ErrClosed
	}
	return n.serf.Leave()
}

// leaveAfterFailedJoin lets a gossip join that Join gave up on finish
// (for at most the broadcast timeout), and leaves if it admitted the node.
func (n *Node) leaveAfterFailedJoin() {
	if p := n.joining.Load(); p != nil {
		t := time.NewTimer(n.bcastTimeout)
		select {
		case <-*p:
		case <-t.C:
		}
		t.Stop()
	}
	if len(n.MemberNames()) > 1 {
		if err := n.serf.Leave(); err != nil {
			n.log.Debug("leave after a failed join", "err", err)
		}
	}
}
