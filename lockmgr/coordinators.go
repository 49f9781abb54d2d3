package lockmgr

import (
	"slices"
	"time"
)

// coordinators returns the members to ask, in turn, to coordinate id:
// in quorum mode the voters' leader first (as this node knows it), then
// the owners of id on the ring of the voting members in ring order; in
// Quorum(false) mode, and in tests that pin coordinators to the ring,
// the ring alone.
//
// Why the leader first: every claim is proposed by the leader, so a
// coordinator elsewhere costs each acquisition two more messages on its
// path (coordinator to leader and back), and on a loopback or LAN link
// a message, with the wake-ups it takes, costs as much as the Raft
// round itself. The leader already handles every claim; queueing the
// waiters there too adds a queue entry per waiter, not a message. The
// ring stays for what it was before: where to go when the leader is
// unknown (no group yet, a change of leader) or runs no Manager, and
// the coordinators of Quorum(false), which has no leader.
//
// Which member coordinates decides nothing about safety (the voters'
// log does; see L1-L3): around a change of leader, callers that knew
// the old leader queue there and later ones at the new leader, and both
// queues claim. Only the order among them is then first come, first
// served no longer, for as long as the old queue has waiters.
func (m *Manager) coordinators(id string) []string {
	names := m.srv.votingNames()
	owners := m.ring.Ring(names).Owners(id, len(names))
	if !m.opt.quorum || m.hooks.ringOnly {
		return owners
	}
	lead := m.srv.svc.Leader()
	if lead == "" || m.srv.managerless(lead) || !slices.Contains(owners, lead) {
		return owners
	}
	out := make([]string, 0, len(owners))
	out = append(out, lead)
	for _, o := range owners {
		if o != lead {
			out = append(out, o)
		}
	}
	return out
}

// noManagerFor is how long a member that answered an acquisition with
// ErrUnknownMethod (it runs the voters for an Elector, say, but no
// Manager) is not asked first again.
const noManagerFor = 5 * time.Second

// noManager records that name runs no Manager.
func (s *server) noManager(name string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.managerlessName, s.managerlessAt = name, time.Now()
}

// managerless reports whether name answered with ErrUnknownMethod
// within noManagerFor.
func (s *server) managerless(name string) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return name == s.managerlessName && time.Since(s.managerlessAt) < noManagerFor
}

// votingNames returns the members on the coordinator ring (see
// memberNames), derived again only when the member list may have
// changed: every acquisition needs them, and listing the members costs
// a walk over all of them.
func (s *server) votingNames() []string {
	version := s.node.MembersVersion()
	s.qmu.Lock()
	if s.namesSeen && s.namesVersion == version {
		names := s.names
		s.qmu.Unlock()
		return names
	}
	s.qmu.Unlock()
	names := memberNames(s.node)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.names, s.namesVersion, s.namesSeen = names, version, true
	return names
}
