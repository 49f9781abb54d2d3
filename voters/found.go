package voters

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// Founding is once per cluster: see the package doc (Founding, V4) for
// the rules and why they rest on what processes remember rather than
// on what gossip shows.

// memory is what a node remembers for as long as it runs, across
// services: a node whose last lock Manager and Elector closed, and that
// starts new ones, is the same process, and must not found a group
// beside the one it saw.
type memory struct {
	sawGroup atomic.Bool // a group that had a leader was seen
}

type memoryKey struct{}

// nodeMemory returns n's memory, kept until n closes.
func nodeMemory(n *cluster.Node) *memory {
	v, _ := n.Shared(memoryKey{}, func() any { return &memory{} }, nil) // never released
	return v.(*memory)
}

// saw records that a group was seen, if seen, and reports whether one
// ever was.
func (m *memory) saw(seen bool) bool {
	if seen {
		m.sawGroup.Store(true)
	}
	return m.sawGroup.Load()
}

// methodFounding asks a node whether it knows of a group (foundingResp).
const methodFounding = "voters.founding"

// foundingReq is the founder's question; it carries nothing.
type foundingReq struct{}

// foundingResp is a node's answer: the group its member is in (0: none),
// whether its process has seen a group, and how many answers a founding
// needs by its own quorum basis.
type foundingResp struct {
	Group uint64 `msgpack:"g,omitempty"`
	Seen  bool   `msgpack:"s,omitempty"`
	Need  int    `msgpack:"n,omitempty"`
}

// serveFounding answers a founder.
func (s *Service) serveFounding(context.Context, string, foundingReq) (foundingResp, error) {
	v := s.currentView()
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := foundingResp{Group: v.group, Seen: s.mem.saw(v.group != 0), Need: s.need()}
	if s.m != nil {
		resp.Group = s.m.group
	}
	return resp, nil
}

// need is how many nodes running the service a founding needs: a
// majority of this node's quorum basis, and ExpectedSize.
func (s *Service) need() int {
	return max(s.node.ExpectedSize(), s.node.QuorumSize(), 1)
}

// maybeFound founds the first group: when no alive member is in one,
// this node never saw one and is not waiting for a Join, it sees at
// least ExpectedSize members running the service, and a majority of
// every member it has seen (cluster.Node.QuorumSize), it has the lowest
// name among them, all of that held for the settle time, and all of
// them answer that they know of no group either (poll).
func (s *Service) maybeFound(v view, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem.saw(v.group != 0) || now.Before(s.vetoedUntil) {
		s.eligible = time.Time{} // most calls, on a cluster's clients: nothing to found
		return
	}
	names := make([]string, 0, len(v.ids))
	for name := range v.ids {
		names = append(names, name)
	}
	// A majority of the members this node knows must run the service,
	// so that two sides of a partition never both found a group; a
	// node whose Join has not succeeded may know too few of them.
	need := s.need()
	ok := len(names) >= need && slices.Min(names) == s.node.Name() && !s.node.JoinPending()
	if !ok {
		s.eligible = time.Time{}
		return
	}
	if s.eligible.IsZero() {
		s.eligible = now
	}
	if now.Sub(s.eligible) < s.opt.settle || s.polling {
		return
	}
	s.eligible = time.Time{}
	// The first voters: this node and the next names, as many as the
	// target allows (odd). The others start their members when the
	// founder's first messages reach them.
	slices.Sort(names)
	n := min(s.node.Voters(), len(names))
	if n%2 == 0 {
		n--
	}
	ids := make([]uint64, 0, n)
	for _, name := range names[:n] {
		ids = append(ids, v.ids[name])
	}
	s.polling = true
	s.spawn(func() {
		defer func() {
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
		}()
		if s.poll(names[1:], need) && s.currentView().group == 0 {
			s.found(ids)
		}
	})
}

// poll asks peers (every node it sees running the service) whether
// they know of a group, and reports whether every one of them answered
// that it does not, and they are at least as many as need and as every
// answer's own Need asks (a founder whose view is small learns that the
// others know more members). A peer that does not answer stops the
// founding as a veto would: it may be one that saw a group, slowed
// down (a node starved of CPU). It waits for every answer (or
// failAfter). After a veto, this node does not try again for
// failAfter.
func (s *Service) poll(peers []string, need int) bool {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.failAfter)
	defer cancel()
	type answer struct {
		name string
		resp foundingResp
		err  error
	}
	answers := make(chan answer, len(peers))
	for _, p := range peers {
		go func() {
			var resp foundingResp
			err := s.node.Call(ctx, p, methodFounding, foundingReq{}, &resp)
			answers <- answer{p, resp, err}
		}()
	}
	veto, silent := "", ""
	for range peers {
		a := <-answers // every Call returns by ctx's end
		switch {
		case a.err != nil:
			silent = a.name
		case a.resp.Group != 0 || a.resp.Seen:
			if veto == "" {
				veto = a.name
				cancel()
			}
		default:
			need = max(need, a.resp.Need)
		}
	}
	switch {
	case veto != "":
		s.mu.Lock()
		s.vetoedUntil = time.Now().Add(s.opt.failAfter)
		s.mu.Unlock()
		s.log.Info("not founding a voter group: a peer knows of one", "peer", veto)
		return false
	case silent != "":
		s.log.Debug("not founding a voter group: a peer did not answer", "peer", silent)
		return false
	case len(peers)+1 < need:
		s.log.Debug("not founding a voter group: the others know more members", "answers", len(peers)+1, "need", need)
		return false
	}
	return true
}
