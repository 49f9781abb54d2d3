package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Join contacts the seeds ("ip:port"; a missing port means 7946) and joins
// the cluster through those that answer. It first opens an RPC connection
// to every seed at once (a seed that does not answer costs no more than
// a quarter of a second after another one answered), so that a wrong secret key (ErrAuth) or a name already in
// use (ErrDuplicateName) is reported at once instead of failing silently.
// It returns the number of seeds contacted; an error only if none was, or
// the cluster refused this node. If ctx ends first, Join returns ctx.Err()
// and the join may still complete in the background; if no Join of this
// node ever succeeds, Close then leaves gracefully, so that a node
// admitted behind a failed Join does not stay in the others' quorum basis
// as a failed member.
func (n *Node) Join(ctx context.Context, seeds ...string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	if len(seeds) == 0 {
		return 0, errors.New("cluster: join: no seeds given")
	}
	n.joinAsked.Store(true)
	ok, errs, err := n.greetAll(ctx, seeds)
	if err != nil {
		return 0, err
	}
	if len(ok) == 0 {
		return 0, fmt.Errorf("cluster: join: no seed could be contacted: %s", strings.Join(errs, "; "))
	}
	n.joinTried.Store(true)
	c, err := n.serfJoin(ctx, ok)
	if err == nil {
		n.joined.Store(true)
	}
	return c, err
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

// greetAll greets every seed at once, so that a seed that does not
// answer (a crashed host, a partition: a dial there hangs until its
// deadline) does not use up ctx before the others are tried. It returns
// when every seed answered or failed, or greetGrace after the first
// answer, with the addresses that answered and why the others did not
// (those still pending are not listed). A wrong key or a name in use is
// returned as err at once; ctx's end too, if no seed answered by then.
func (n *Node) greetAll(ctx context.Context, seeds []string) (ok, errs []string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type greeting struct {
		seed, addr string
		err        error
	}
	results := make(chan greeting, len(seeds))
	for _, s := range seeds {
		greet := func() {
			addr, err := seedAddr(s)
			if err == nil {
				err = n.greet(ctx, addr)
			}
			results <- greeting{s, addr, err}
		}
		if !n.spawn(greet) { // Close waits for the greetings it did not cancel
			return nil, nil, ErrClosed
		}
	}
	var grace <-chan time.Time
	for range seeds {
		var g greeting
		select {
		case g = <-results:
		case <-grace:
			return ok, errs, nil
		case <-ctx.Done():
			if len(ok) == 0 {
				return nil, nil, ctx.Err()
			}
			return ok, errs, nil
		}
		switch {
		case errors.Is(g.err, ErrAuth) || errors.Is(g.err, ErrDuplicateName):
			return nil, nil, errtext.Errorf("cluster: ", "cluster: join %s: %w", g.seed, g.err)
		case g.err != nil:
			errs = append(errs, fmt.Sprintf("%s: %v", g.seed, g.err))
		case !slices.Contains(ok, g.addr):
			ok = append(ok, g.addr)
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

func seedAddr(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		s = net.JoinHostPort(s, fmt.Sprint(DefaultPort))
	}
	ap, err := parseIPPort(s)
	if err != nil {
		return "", fmt.Errorf("seed %q: %w", s, err)
	}
	return ap.String(), nil
}

// Leave announces a graceful departure and waits until it has spread (or
// ctx ends): the others see a leave, not a failure, and lower their quorum
// basis. First it runs the functions registered with BeforeLeave (a voter
// hands its place over), in the order registered, each within ctx. The
// node keeps its listeners until Close.
func (n *Node) Leave(ctx context.Context) error {
	if n.closed.Load() {
		return ErrClosed
	}
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
