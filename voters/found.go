package voters

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
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
// beside the one it saw. It also answers founders (methodFounding) for
// the node, whether a service runs or not.
type memory struct {
	node     *cluster.Node
	store    *store      // the node's DataDir, nil for none
	sawGroup atomic.Bool // a group that had a leader was seen

	mu       sync.Mutex
	svc      *Service  // the node's running service, if any
	promised string    // the founder last answered no
	until    time.Time // ... which binds the answer until then
}

type memoryKey struct{}

// nodeMemory returns n's memory, kept until n closes, and serving
// methodFounding from its first use on.
func nodeMemory(n *cluster.Node) *memory {
	v, _ := n.Shared(memoryKey{}, func() any { // never released
		st, err := openStore(n.DataDir())
		if err != nil {
			// cluster.New made the directory and wrote in it: this is
			// rare, and the node goes on in memory only.
			n.Logger().Error("voters: DataDir unusable: the voter state stays in memory", "err", err)
		}
		m := &memory{node: n, store: st}
		m.sawGroup.Store(st.sawGroup())
		cluster.HandleFunc(n, methodFounding, m.serveFounding)
		return m
	}, nil)
	return v.(*memory)
}

// saw records that a group was seen, if seen, and reports whether one
// ever was.
//
// With a DataDir, the first sighting is written there (store.markSeen),
// so that the node remembers it across restarts.
func (m *memory) saw(seen bool) bool {
	if seen && !m.sawGroup.Swap(true) {
		if err := m.store.markSeen(); err != nil {
			m.node.Logger().Error("voters: the sight of a group not written to the DataDir", "err", err)
		}
	}
	return m.sawGroup.Load()
}

// promisedOther reports whether this node answered a founder other than
// self no within the failure threshold: it then founds nothing itself.
func (m *memory) promisedOther(self string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.promised != "" && m.promised != self && now.Before(m.until)
}

// attach makes s the service that answers founders with m (nil: none).
func (m *memory) attach(s *Service) {
	m.mu.Lock()
	m.svc = s
	m.mu.Unlock()
}

// methodFounding asks a node whether it knows of a group (foundingResp).
const methodFounding = "voters.founding"

// foundingReq is the founder's question; it carries nothing.
type foundingReq struct{}

// foundingResp is a node's answer: the group its member is in (0: none),
// whether its process has seen a group, whether it answered another
// founder no within the failure threshold or is founding itself
// (Promised), and how many answers a founding needs by its own quorum
// basis. Any of the first three stops the founding.
type foundingResp struct {
	Group    uint64 `msgpack:"g,omitempty"`
	Seen     bool   `msgpack:"s,omitempty"`
	Promised bool   `msgpack:"p,omitempty"`
	Need     int    `msgpack:"n,omitempty"`
}

// serveFounding answers founder from, for the node.
func (m *memory) serveFounding(_ context.Context, from string, _ foundingReq) (foundingResp, error) {
	m.mu.Lock()
	s := m.svc
	m.mu.Unlock()
	var group uint64
	led, polling := false, false
	if s != nil {
		v := s.currentView()
		s.mu.Lock()
		group, led, polling = v.group, v.led, s.polling
		if s.m != nil {
			group = s.m.group
		}
		s.mu.Unlock()
	}
	return m.answer(from, group, led, polling, foundingNeed(m.node), timingFor(m.node.Profile()).failAfter, m.node.Clock().Now()), nil
}

// answer is the answer to founder from, given the group this node's
// member is in or its view shows (0: none), whether its view shows a
// leader, and whether it polls for a founding of its own. A no binds this node for failAfter: another
// founder asking meanwhile is refused, and the node founds nothing
// itself, so two founders whose views differ never both hear no from
// one node.
func (m *memory) answer(from string, group uint64, led, polling bool, need int, failAfter time.Duration, now time.Time) foundingResp {
	resp := foundingResp{Group: group, Seen: m.saw(led), Need: need}
	resp.Promised = polling || m.promisedOther(from, now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if resp.Group == 0 && !resp.Seen && !resp.Promised {
		m.promised, m.until = from, now.Add(failAfter)
	}
	return resp
}

// need is how many nodes running the service a founding needs, by this
// node's quorum basis (foundingNeed).
func (s *Service) need() int { return foundingNeed(s.node) }

// foundingNeed is how many nodes running the service a founding needs
// by n's quorum basis: a majority of it, and ExpectedSize.
func foundingNeed(n *cluster.Node) int {
	return max(n.ExpectedSize(), n.QuorumSize(), 1)
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
	if v.group != 0 || s.mem.saw(v.led) || now.Before(s.vetoedUntil) || s.mem.promisedOther(s.node.Name(), now) {
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
		if !s.poll(names[1:], need) {
			return
		}
		// The poll took up to failAfter: look again before founding.
		if v := s.currentView(); v.group == 0 && !s.mem.saw(v.led) && !s.mem.promisedOther(s.node.Name(), s.node.Clock().Now()) {
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
		case a.resp.Group != 0 || a.resp.Seen || a.resp.Promised:
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
		// Two founders that stopped each other try again apart.
		s.vetoedUntil = s.node.Clock().Now().Add(s.opt.failAfter/2 + rand.N(s.opt.failAfter/2))
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
