package cluster

import (
	"fmt"
	"slices"

	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// MaxBroadcast is the most a broadcast's name and payload may hold
// together, in bytes (serf's limit on a user event).
const MaxBroadcast = 512

// Broadcast gossips payload under name to every member, this node
// included, as a serf user event: it reaches every member within a few
// gossip rounds, at most once each, in no particular order with other
// broadcasts, and a member that is down meanwhile misses it. Names
// starting with "_" belong to gossipsync's packages. It returns once the
// broadcast is queued.
func (n *Node) Broadcast(name string, payload []byte) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if len(name)+len(payload) > MaxBroadcast {
		return fmt.Errorf("cluster: broadcast %q: %d bytes, want at most %d", name, len(name)+len(payload), MaxBroadcast)
	}
	if err := n.serf.UserEvent(name, payload, false); err != nil {
		return errtext.Errorf("cluster: ", "cluster: broadcast %q: %w", name, err)
	}
	return nil
}

// OnBroadcast registers f to receive every broadcast named name, from any
// member, this node's own included. f runs on the node's event loop: it
// must return quickly and must not call the node's blocking methods. It
// returns a function that unregisters f.
func (n *Node) OnBroadcast(name string, f func(payload []byte)) (unregister func()) {
	h := &broadcastHandler{name: name, f: f}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.broadcasts = append(n.broadcasts, h)
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.broadcasts = slices.DeleteFunc(n.broadcasts, func(x *broadcastHandler) bool { return x == h })
	}
}

type broadcastHandler struct {
	name string
	f    func([]byte)
}

// userEvent hands a serf user event to the handlers of its name.
func (n *Node) userEvent(e serf.UserEvent) {
	n.mu.Lock()
	var fs []func([]byte)
	for _, h := range n.broadcasts {
		if h.name == e.Name {
			fs = append(fs, h.f)
		}
	}
	n.mu.Unlock()
	for _, f := range fs {
		f(e.Payload)
	}
}
