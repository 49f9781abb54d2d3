package voters

import (
	"slices"
	"strconv"
)

// Info is one node's view of the voter group.
type Info struct {
	Group  uint64 // the group's ID (0: none known)
	Leader string // its leader, "" if none known
	// Voters and Learners name the members of the configuration. On a
	// member they are its applied configuration; elsewhere, what gossip
	// says (Learners then stays empty and Voters holds every member).
	Voters, Learners []string
	// Role is this node's role: "leader", "voter", "learner" or "".
	Role string
	// Epoch is, on a member, the number of its applied configuration:
	// the log index of the configuration's entry (see
	// raftgroup.Group.ConfStatus). It is 0 elsewhere, and on a member
	// whose log no longer holds that entry (compacted, or received in a
	// snapshot).
	Epoch uint64
	// Term is, on a member, its current Raft term (0 elsewhere).
	Term uint64
}

// Info returns this node's view of the voter group. On a member it
// scans the member's log for the epoch: it is for reports and tests.
func (s *Service) Info() Info {
	v := s.currentView()
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m != nil {
		if st, epoch, err := m.g.ConfStatus(); err == nil && roleOf(m, st) != "" {
			in := Info{Group: m.group, Leader: s.nameOf(st.Leader), Epoch: epoch, Term: st.Term}
			for _, id := range st.Voters {
				in.Voters = append(in.Voters, s.nameOrID(id))
			}
			for _, id := range st.Learners {
				in.Learners = append(in.Learners, s.nameOrID(id))
			}
			slices.Sort(in.Voters)
			slices.Sort(in.Learners)
			switch roleOf(m, st)[len(roleOf(m, st))-1] {
			case 'l':
				in.Role = "leader"
			case 'v':
				in.Role = "voter"
			default:
				in.Role = "learner"
			}
			return in
		}
	}
	return Info{Group: v.group, Leader: v.leader, Voters: v.members}
}

func (s *Service) nameOrID(id uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.known[id]; n != "" {
		return n
	}
	return "#" + strconv.FormatUint(id, 16)
}
