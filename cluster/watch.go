package cluster

import (
	"context"
	"sync/atomic"
)

// Watcher delivers membership events (Watch).
type Watcher struct {
	// C receives the events. It closes when the Watch's ctx ends or the
	// node closes.
	C <-chan Event
	s *subscription
}

type subscription struct {
	ch      chan Event
	dropped atomic.Uint64
}

// Dropped returns how many events found C full and were dropped.
func (w *Watcher) Dropped() uint64 { return w.s.dropped.Load() }

// Watch returns a Watcher of membership events with room for buffer
// events, until ctx ends. Events never block gossip: when C is full,
// further events are dropped (and counted: Dropped) until there is room,
// so a watcher that must not miss a change also reads Members.
func (n *Node) Watch(ctx context.Context, buffer int) *Watcher {
	s := &subscription{ch: make(chan Event, max(buffer, 0))}
	w := &Watcher{C: s.ch, s: s}
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		close(s.ch)
		return w
	}
	n.subs[s] = struct{}{}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() { // no goroutine until ctx ends
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.subs[s]; ok {
			delete(n.subs, s)
			close(s.ch)
		}
	})
	return w
}
