package voters

import (
	"context"
	"time"
)

// methodGrants lists the live grants of a member's lease table.
const methodGrants = "voters.grants"

// MaxGrants bounds the grants one listing returns.
const MaxGrants = 1000

// Grant is a live grant of the voters' lease table: a held lock ("l/"
// and the lock's id, as lockmgr names its keys) or an election lease
// ("e/" and the group's name).
type Grant struct {
	Key    string `msgpack:"k"`
	Node   string `msgpack:"n"`           // the holder's node
	Owner  string `msgpack:"o"`           // a lock Manager's instance, or an election candidate's id
	Handle uint64 `msgpack:"h,omitempty"` // the acquisition (lock) or campaign (election) of Owner
	Token  uint64 `msgpack:"t"`           // the fencing token, or the election term
	// Remaining is how long the member that was read still holds the
	// grant unless it is renewed: at most 1.25 TTL, as of the listing.
	Remaining time.Duration `msgpack:"r"`
}

// Grants is a bounded listing of the live grants, in key order.
type Grants struct {
	Grants []Grant `msgpack:"g,omitempty"`
	More   int     `msgpack:"m,omitempty"` // live grants left out of Grants
	From   string  `msgpack:"f"`           // the member whose table was read
}

// grantsReq asks a member of Group for up to Max grants.
type grantsReq struct {
	Group uint64 `msgpack:"g"`
	Max   int    `msgpack:"m"`
}

// grantsResp is a listing, or NotMember.
type grantsResp struct {
	Grants    Grants `msgpack:"l"`
	NotMember bool   `msgpack:"x,omitempty"`
}

// Grants lists up to limit (at most MaxGrants) live grants of the lease
// table. On a member of the group it reads its own table, which may lag
// the leader's by the entries it has not applied yet; elsewhere it asks
// the leader that gossip names, else the other members in turn, until
// one answers or ctx ends. It is for reports: it never changes a grant.
func (s *Service) Grants(ctx context.Context, limit int) (Grants, error) {
	limit = min(max(limit, 0), MaxGrants)
	if g, ok := s.localGrants(limit); ok {
		return g, nil
	}
	var g Grants
	err := s.askMembers(ctx, 200*time.Millisecond, func(tctx context.Context, target string, group uint64) (bool, error) {
		var resp grantsResp
		if err := s.node.Call(tctx, target, methodGrants, grantsReq{Group: group, Max: limit}, &resp); err != nil || resp.NotMember {
			return false, err
		}
		g = boundGrants(resp.Grants, limit)
		return true, nil
	})
	return g, err
}

// localGrants lists this node's member's table, if it has a member that
// runs.
func (s *Service) localGrants(limit int) (Grants, bool) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil || stopped(m) {
		return Grants{}, false
	}
	gs, more := m.table.List(s.node.Clock().Now(), limit)
	out := Grants{Grants: make([]Grant, 0, len(gs)), More: more, From: s.node.Name()}
	size := 0
	for i, g := range gs {
		// Keys and candidate ids have no bound of their own: keep the
		// answer well inside an RPC frame, counting the rest in More.
		if size += len(g.Key) + len(g.Holder.Node) + len(g.Holder.Owner) + 48; size > maxGrantsBytes {
			out.More += len(gs) - i
			break
		}
		out.Grants = append(out.Grants, Grant{Key: g.Key, Node: g.Holder.Node, Owner: g.Holder.Owner,
			Handle: g.Holder.Handle, Token: g.Token, Remaining: g.Remaining})
	}
	return out, true
}

// maxGrantsBytes bounds the encoded size of one listing (each grant
// counted with its strings and 48 bytes for its numbers and field
// names): a sixteenth of the default RPC frame (cluster.Config.MaxFrame);
// a cluster set to smaller frames may see long listings refused.
const maxGrantsBytes = 256 << 10

// serveGrants lists this member's table for a client.
func (s *Service) serveGrants(_ context.Context, _ string, req grantsReq) (grantsResp, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m != nil && req.Group != 0 && m.group != req.Group {
		return grantsResp{NotMember: true}, nil
	}
	g, ok := s.localGrants(min(max(req.Max, 0), MaxGrants))
	if !ok {
		return grantsResp{NotMember: true}, nil
	}
	return grantsResp{Grants: g}, nil
}

// boundGrants keeps at most limit grants of a peer's answer, counting
// the others in More.
func boundGrants(g Grants, limit int) Grants {
	if n := len(g.Grants); n > limit {
		g.Grants, g.More = g.Grants[:limit], max(g.More, 0)+n-limit
	}
	g.More = max(g.More, 0)
	return g
}
