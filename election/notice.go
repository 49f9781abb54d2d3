package election

import (
	"context"
	"sync"

	"github.com/gossipsync/gossipsync/cluster"
)

// methodReleased is the RPC notification by which a leader whose grant
// the voters freed tells the nodes of the candidates it heard
// campaigning, so that they claim at once rather than a gossip round
// later (see Elector.tellReleased). Its body is the leader's End
// announcement.
const methodReleased = "election.released"

// board routes the release notices a node receives to the watches of
// its Electors, by group: one per node (cluster.Node.Shared), so that
// the package keeps no state of its own.
type board struct {
	node    *cluster.Node
	mu      sync.Mutex
	watches map[*watch]string // watch → its group
}

type boardKey struct{}

// joinBoard registers w for the release notices of group on n, and
// returns the function that unregisters it.
func joinBoard(n *cluster.Node, group string, w *watch) (leave func()) {
	v, release := n.Shared(boardKey{}, func() any {
		b := &board{node: n, watches: map[*watch]string{}}
		cluster.HandleFunc(n, methodReleased, b.serve)
		return b
	}, func(v any) { v.(*board).node.Handle(methodReleased, nil) })
	b := v.(*board)
	b.mu.Lock()
	b.watches[w] = group
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.watches, w)
		b.mu.Unlock()
		release()
	}
}

func (b *board) serve(_ context.Context, _ string, a announcement) (struct{}, error) {
	b.mu.Lock()
	var ws []*watch
	for w, g := range b.watches {
		if g == a.Group {
			ws = append(ws, w)
		}
	}
	b.mu.Unlock()
	for _, w := range ws {
		w.released(a)
	}
	return struct{}{}, nil
}

// tellReleased tells the nodes of the candidates heard campaigning that
// the voters freed the grant of term, held by candidate id: a
// notification each, sent in the background (bounded by a quarter TTL).
// The End announcement's gossip reaches them too, a few gossip rounds
// later; this notice only saves that time.
func (e *Elector) tellReleased(id string, term uint64) {
	a := announcement{Group: e.group, Term: term, ID: id, Node: e.node.Name(), Priority: e.prio, TTL: e.ttl, End: true}
	for _, to := range e.w.nodes(e.clk.Now()) {
		e.goCleanup(func() {
			ctx, cancel := context.WithTimeout(e.ctx, e.ttl/4)
			defer cancel()
			e.node.Notify(ctx, to, methodReleased, a)
		})
	}
}
