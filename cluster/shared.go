package cluster

import (
	"sync"
	"sync/atomic"
)

// Shared returns the value kept on this node under key, made by create
// on the first call, and a release function; the last release of a value
// passes it to destroy and forgets it, so a later Shared makes a new one,
// once destroy has returned (the old value's clean-up never overlaps the
// new one's start). Packages keep one per-node service this way (the
// voter service that every lock Manager and Elector of a node uses), so
// that no package holds state of its own. create and destroy run without
// the node's locks held: they may call Shared for other keys (a service
// built on another); a concurrent Shared of the same key waits for
// create.
func (n *Node) Shared(key any, create func() any, destroy func(any)) (v any, release func()) {
	n.sharedMu.Lock()
	if n.shared == nil {
		n.shared = map[any]*sharedValue{}
	}
	s := n.shared[key]
	for s != nil && s.gone != nil {
		gone := s.gone
		n.sharedMu.Unlock()
		<-gone // the last value is being destroyed
		n.sharedMu.Lock()
		s = n.shared[key]
	}
	first := s == nil
	if first {
		s = &sharedValue{ready: make(chan struct{}), destroy: destroy}
		n.shared[key] = s
	}
	s.refs++
	n.sharedMu.Unlock()
	if first {
		s.v = create()
		close(s.ready)
	} else {
		<-s.ready
	}
	return s.v, n.releaseShared(key, s)
}

// LookupShared returns the value kept under key, as Shared does, if
// one is kept now: it never makes one. ok is false when none is (then
// release is nil). The reference it takes is one like Shared's: the
// caller calls release, and if that is the last reference, release
// destroys the value. It is for observers (package metrics reads the
// voter service of a node that runs one, and must not start one).
func (n *Node) LookupShared(key any) (v any, release func(), ok bool) {
	n.sharedMu.Lock()
	s := n.shared[key]
	if s == nil || s.gone != nil {
		n.sharedMu.Unlock()
		return nil, nil, false
	}
	s.refs++
	n.sharedMu.Unlock()
	<-s.ready
	return s.v, n.releaseShared(key, s), true
}

// releaseShared returns the release function of one reference to s.
func (n *Node) releaseShared(key any, s *sharedValue) func() {
	released := false
	return func() {
		n.sharedMu.Lock()
		if released {
			n.sharedMu.Unlock()
			return
		}
		released = true
		s.refs--
		last := s.refs == 0
		if last {
			s.gone = make(chan struct{})
		}
		n.sharedMu.Unlock()
		if last {
			defer func() { // even if destroy panics: later Shareds wait on gone
				n.sharedMu.Lock()
				delete(n.shared, key)
				close(s.gone)
				n.sharedMu.Unlock()
			}()
			s.destroy(s.v)
		}
	}
}

type sharedValue struct {
	ready   chan struct{} // closed once v is made
	v       any
	destroy func(any) // the first Shared's (made v)
	refs    int
	gone    chan struct{} // set while v is destroyed, closed after
}

// Exclusive takes this node's one slot under key, for a service of which
// a node runs one at a time (a taskpool.Pool, a clock.Clock: a second
// would take over the first's RPC methods): it reports false while
// another holder has the slot; release frees it (once).
func (n *Node) Exclusive(key any) (release func(), ok bool) {
	v, rel := n.Shared(key, func() any { return new(atomic.Bool) }, func(any) {})
	taken := v.(*atomic.Bool)
	if !taken.CompareAndSwap(false, true) {
		rel()
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { taken.Store(false); rel() }) }, true
}
