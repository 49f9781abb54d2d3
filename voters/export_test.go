package voters

import (
	"context"

	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/raft/v3"

	"github.com/gossipsync/gossipsync/internal/eventlog"
)

// State is what a test sees of a service's Raft member: the zero State
// if it has none (a client of the group, or closed).
type State struct {
	Group, ID        uint64 // the member's group and Raft ID
	Leader           bool   // it leads its group
	Voters, Learners []uint64
	Last             uint64 // the last token its table issued (0: not founded)
	Applied          uint64 // the index of the last entry it applied
}

// State returns the service's member's view of its group.
func (s *Service) State() State {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return State{}
	}
	st, err := m.g.Status()
	if err != nil {
		return State{}
	}
	return State{Group: m.group, ID: m.id, Leader: st.State == raft.StateLeader,
		Voters: st.Voters, Learners: st.Learners, Last: m.table.Last(), Applied: st.Applied}
}

// ReceiveRaft runs the handler of Raft batches (methodRaft) as for a
// batch from node n2: with body nil, a batch of msgs addressed to this
// node's member; else the batch that body decodes to, as the RPC layer
// decodes it (an error if it does not).
func (s *Service) ReceiveRaft(ctx context.Context, msgs [][]byte, body []byte) error {
	var b raftBatch
	if body != nil {
		if err := msgpack.Unmarshal(body, &b); err != nil {
			return err
		}
	} else {
		st := s.State()
		b = raftBatch{Group: st.Group, To: st.ID, Msgs: msgs}
	}
	_, err := s.receive(ctx, "n2", b)
	return err
}

// RaftBatch encodes a batch as a peer's outbox does.
func RaftBatch(group, to uint64, msgs ...[]byte) []byte {
	b, err := msgpack.Marshal(raftBatch{Group: group, To: to, Msgs: msgs})
	if err != nil {
		panic(err)
	}
	return b
}

// MemberEvents returns the events of topic in this service's member's
// own table (nil without a member).
func (s *Service) MemberEvents(topic string) []eventlog.Event {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	info, _ := m.events.Info(topic)
	es, _, _ := m.events.Read(topic, info.First, int(info.Next-info.First))
	return es
}
