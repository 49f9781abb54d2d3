package cluster

// Shared returns the value kept on this node under key, made by create
// on the first call, and a release function; the last release of a value
// passes it to destroy and forgets it, so a later Shared makes a new one.
// Packages keep one per-node service this way (the voter service that
// every lock Manager and Elector of a node uses), so that no package
// holds state of its own. create and destroy run under a lock of their
// own: they may call the node's other methods but not Shared.
func (n *Node) Shared(key any, create func() any, destroy func(any)) (v any, release func()) {
	n.sharedMu.Lock()
	defer n.sharedMu.Unlock()
	if n.shared == nil {
		n.shared = map[any]*sharedValue{}
	}
	s := n.shared[key]
	if s == nil {
		s = &sharedValue{v: create()}
		n.shared[key] = s
	}
	s.refs++
	released := false
	return s.v, func() {
		n.sharedMu.Lock()
		defer n.sharedMu.Unlock()
		if released {
			return
		}
		released = true
		if s.refs--; s.refs == 0 {
			delete(n.shared, key)
			destroy(s.v)
		}
	}
}

type sharedValue struct {
	v    any
	refs int
}
