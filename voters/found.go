package voters

import (
	"context"
	"slices"
	"time"
)

// Founding is once per cluster: see the package doc (Founding, V4) for
// the rules and why they rest on what processes remember rather than
// on what gossip shows.

// methodFounding asks a node whether it knows of a group (foundingResp).
const methodFounding = "voters.founding"

// foundingReq is the founder's question; it carries nothing.
type foundingReq struct{}

// foundingResp is a node's answer: the group its member is in (0: none),
// and whether its process has seen a group.
type foundingResp struct {
	Group uint64 `msgpack:"g,omitempty"`
	Seen  bool   `msgpack:"s,omitempty"`
}

// serveFounding answers a founder.
func (s *Service) serveFounding(context.Context, string, foundingReq) (foundingResp, error) {
	v := s.currentView()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sawGroup = s.sawGroup || v.group != 0
	resp := foundingResp{Group: v.group, Seen: s.sawGroup}
	if s.m != nil {
		resp.Group = s.m.group
	}
	return resp, nil
}

// maybeFound founds the first group: when no alive member is in one,
// this process never saw one, this node sees at least ExpectedSize
// members running the service, and a majority of every member it has
// seen (cluster.Node.QuorumSize), it has the lowest name among them, all
// of that held for the settle time, and enough of them answer that they
// know of no group either (poll).
func (s *Service) maybeFound(v view, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sawGroup = s.sawGroup || v.group != 0
	if v.group != 0 || s.sawGroup || now.Before(s.vetoedUntil) {
		s.eligible = time.Time{} // most calls, on a cluster's clients: nothing to found
		return
	}
	names := make([]string, 0, len(v.ids))
	for name := range v.ids {
		names = append(names, name)
	}
	// A majority of the members this node knows must run the service,
	// so that two sides of a partition never both found a group.
	need := max(s.node.ExpectedSize(), s.node.QuorumSize(), 1)
	ok := len(names) >= need && slices.Min(names) == s.node.Name()
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

// poll asks peers whether they know of a group, and reports whether at
// least need-1 of them answered that they do not and none that it does.
// It waits for every answer (or failAfter): a peer that knows of a group
// vetoes the founding even when enough others answered first. After a
// veto, this node does not try again for failAfter.
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
	clean, veto := 1, ""
	for range peers {
		a := <-answers // every Call returns by ctx's end
		switch {
		case a.err != nil:
		case a.resp.Group != 0 || a.resp.Seen:
			if veto == "" {
				veto = a.name
				cancel()
			}
		default:
			clean++
		}
	}
	if veto != "" {
		s.mu.Lock()
		s.vetoedUntil = time.Now().Add(s.opt.failAfter)
		s.mu.Unlock()
		s.log.Info("not founding a voter group: a peer knows of one", "peer", veto)
		return false
	}
	if clean < need {
		s.log.Debug("not founding a voter group: too few answers", "answers", clean, "need", need)
		return false
	}
	return true
}
