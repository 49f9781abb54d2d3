package lockmgr

import (
	"errors"
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

// errBusy is a coordinator's answer to an acquisition from a node that
// has maxWaitersFrom waiting there already; the caller asks the next
// coordinator.
var errBusy = errors.New("lockmgr: coordinator busy: too many waiters from one node")

// maxWaitersFrom bounds the acquisitions one other node has waiting at a
// coordinator: half of the calls a cluster connection serves at once
// (256). A waiter holds one of those for its whole wait, and a
// connection with all of them taken stops reading: the Raft messages of
// a voter and the replies to the coordinator's own calls would wait too,
// and a leader that hears none from its followers steps down. With the
// leader coordinating every id, a node's waiters past the bound queue at
// the ring's owners; past every coordinator's bound, ask tries again
// after busyRetry.
const maxWaitersFrom = 128

// busyRetry is how long ask waits before asking again when every
// coordinator was busy.
const busyRetry = 50 * time.Millisecond

// admit counts a waiter of node from, unless it has maxWaitersFrom
// already; the node's own waiters, which hold no connection, are not
// counted.
func (s *server) admit(from string) bool {
	if from == s.node.Name() {
		return true
	}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.waitersFrom[from] >= maxWaitersFrom {
		return false
	}
	if s.waitersFrom == nil {
		s.waitersFrom = map[string]int{}
	}
	s.waitersFrom[from]++
	return true
}

// leave uncounts a waiter that admit counted.
func (s *server) leave(from string) {
	if from == s.node.Name() {
		return
	}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.waitersFrom[from] <= 1 {
		delete(s.waitersFrom, from)
	} else {
		s.waitersFrom[from]--
	}
}
