package cluster

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Member is a live member of the cluster.
type Member struct {
	Name string            // unique node name
	Addr string            // advertised gossip address, "ip:port"
	Tags map[string]string // gossiped tags; keys starting with "_" belong to gossipsync's packages
}

// Members returns the alive members, this node included, sorted by Name.
func (n *Node) Members() []Member {
	var out []Member
	for _, m := range n.serf.Members() {
		if m.Status == serf.StatusAlive {
			out = append(out, toMember(m))
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// MembersVersion returns a number that grows whenever the member list,
// a member's state or a member's tags (this node's own included) may
// have changed. What a caller derives from Members or MemberNames stays
// current while the number stays the same, so a service that looks at
// the members often can skip the work (Members copies every member's
// tags: on a cluster of hundreds, polled by every node, that adds up).
// Read the version first, then the members: a change in between moves
// the version again.
func (n *Node) MembersVersion() uint64 { return n.membersVersion.Load() }

// MemberNames returns the names of the alive members, this node
// included, sorted: Members without addresses and tags, for callers that
// only need to know who is alive, or how many.
func (n *Node) MemberNames() []string {
	var out []string
	for _, m := range n.serf.Members() {
		if m.Status == serf.StatusAlive {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// VotingMemberNames returns the alive members' names, sorted, less the
// NonVoter ones: the members that may vote and that carry work for
// others, such as coordinating locks.
func (n *Node) VotingMemberNames() []string {
	var out []string
	for _, m := range n.serf.Members() {
		if m.Status == serf.StatusAlive && m.Tags[tagNonVoter] == "" {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

func toMember(m serf.Member) Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		if k != tagRPC {
			tags[k] = v
		}
	}
	return Member{Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), fmt.Sprint(m.Port)), Tags: tags}
}

// rpcAddr returns the RPC address of the alive member named name.
func (n *Node) rpcAddr(name string) (string, bool) {
	for _, m := range n.serf.Members() {
		if m.Name == name && m.Status == serf.StatusAlive {
			if a := m.Tags[tagRPC]; a != "" {
				return a, true
			}
			return net.JoinHostPort(m.Addr.String(), fmt.Sprint(m.Port)), true
		}
	}
	return "", false
}

// QuorumSize returns the number of members that make a majority of the
// quorum basis: Config.ExpectedSize if set, else every member this node
// has seen alive, less those that left gracefully and NonVoter ones. A failed member still
// counts, so a minority side of a partition never reaches quorum.
func (n *Node) QuorumSize() int {
	if n.cfg.ExpectedSize > 0 {
		return n.cfg.ExpectedSize/2 + 1
	}
	members := n.serf.Members()
	n.mu.Lock()
	defer n.mu.Unlock()
	// Events may lag serf's member list; fold in every member that has
	// not left, so the basis is never behind what Members shows.
	for _, m := range members {
		if (m.Status == serf.StatusAlive || m.Status == serf.StatusFailed) && m.Tags[tagNonVoter] == "" {
			n.quorum[m.Name] = struct{}{}
		}
	}
	return len(n.quorum)/2 + 1
}

// ExpectedSize returns Config.ExpectedSize: how many members the cluster
// is expected to have (0: not set).
func (n *Node) ExpectedSize() int { return n.cfg.ExpectedSize }

// NonVoter reports whether the node stays out of the voter set
// (Config.NonVoter).
func (n *Node) NonVoter() bool { return n.cfg.NonVoter }

// Voters returns the configured size of the voter set (Config.Voters, or
// DefaultVoters).
func (n *Node) Voters() int {
	if n.cfg.Voters == 0 {
		return DefaultVoters
	}
	return n.cfg.Voters
}

// RemoveFailed removes a member that failed (crashed, or was cut off and
// declared dead) as if it had left gracefully: every node drops it from
// its quorum basis and stops trying to reach it, as `serf force-leave`
// does. It is for operators, after a node is gone for good; if the node
// comes back it rejoins as usual. It refuses a member this node sees
// alive (ErrMemberAlive) or does not know (ErrUnknownNode). It returns
// once the removal was broadcast, or ctx.Err() by ctx's deadline (the
// broadcast goes on until it is done or the node closes).
func (n *Node) RemoveFailed(ctx context.Context, name string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	known := false
	for _, m := range n.serf.Members() {
		if m.Name != name {
			continue
		}
		known = true
		if m.Status == serf.StatusAlive {
			return errtext.Errorf("cluster: ", "cluster: remove %q: %w", name, ErrMemberAlive)
		}
	}
	if !known {
		return errtext.Errorf("cluster: ", "cluster: remove %q: %w", name, ErrUnknownNode)
	}
	done := make(chan error, 1)
	if !n.spawn(func() { done <- n.serf.RemoveFailedNode(name) }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		if err != nil {
			return errtext.Errorf("cluster: ", "cluster: remove %q: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
