package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Join contacts the seeds ("ip:port"; a missing port means 7946) and joins
// the cluster through those that answer. It first opens an RPC connection
// to each seed, so that a wrong secret key (ErrAuth) or a name already in
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
	var ok []string
	var errs []string
	for _, s := range seeds {
		addr, err := seedAddr(s)
		if err == nil {
			err = n.greet(ctx, addr)
		}
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrDuplicateName) {
			return 0, fmt.Errorf("cluster: join %s: %w", s, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			errs = append(errs, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		ok = append(ok, addr)
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
			return 0, fmt.Errorf("cluster: join: %w", r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
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
			return fmt.Errorf("cluster: leave: %w", err)
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
