package leases

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// do makes choice c, one step of logical time; false if it did nothing.
func (s *system) do(c choice) bool {
	s.now++
	switch c.kind {
	case chWait:
	case chDeliver:
		if s.flight[c.msg] == 0 {
			return false
		}
		s.deliver(c.msg, true)
	case chDuplicate:
		if s.flight[c.msg] == 0 || s.dups >= s.cfg.maxDuplicates {
			return false
		}
		s.deliver(c.msg, false)
		s.dups++
	case chDrop:
		if s.flight[c.msg] == 0 || s.drops >= s.cfg.maxDrops {
			return false
		}
		s.take(c.msg)
		s.drops++
	case chCampaign:
		n := s.nodes[c.node]
		term := n.rn.BasicStatus().GetTerm()
		if err := s.feed(n, input{kind: inCampaign, now: s.now}, true); err != nil || n.rn.BasicStatus().GetTerm() == term {
			return false
		}
		s.campaigns++
	case chPropose:
		var cmd *Cmd
		for _, x := range s.next(c.who) {
			if x.Op == c.op {
				cmd = &x
			}
		}
		if cmd == nil || !s.propose(s.nodes[c.node], c.who, []Cmd{*cmd}) {
			return false
		}
	case chExpire:
		n := s.nodes[c.node]
		cmds := s.expiriesOf(n, s.now)
		if len(cmds) == 0 || s.expiries >= s.cfg.maxExpiries || !s.propose(n, -1, cmds) {
			return false
		}
		s.expiries++
	case chReconf:
		n := s.nodes[c.node]
		cc := s.reconfChange(n)
		if cc == nil || n.rn.BasicStatus().RaftState != raft.StateLeader {
			return false
		}
		if err := s.feed(n, input{kind: inConfChange, now: s.now, cc: cc}, true); err != nil {
			return false
		}
		s.reconfs++
	}
	if s.cfg.timed {
		s.checkLeases()
	}
	if s.cl[0].phase == holding && s.cl[1].phase == holding {
		s.count("both claimants hold a grant")
	}
	return true
}

func (s *system) take(k string) {
	if s.flight[k]--; s.flight[k] == 0 {
		delete(s.flight, k)
	}
}

// deliver steps the message encoded as k at its recipient; consume
// takes it out of the network, else a copy stays in flight.
func (s *system) deliver(k string, consume bool) {
	if consume {
		s.take(k)
	}
	to, _ := protowire.ConsumeVarint(toField(k))
	s.feed(s.nodes[to], input{kind: inStep, now: s.now, data: []byte(k)}, true)
}

// msgType returns a message's type (field 1, a varint).
func msgType(k string) pb.MessageType {
	num, typ, n := protowire.ConsumeTag([]byte(k))
	if n < 0 || num != 1 || typ != protowire.VarintType {
		panic("a message that does not start with its type")
	}
	v, _ := protowire.ConsumeVarint([]byte(k)[n:])
	return pb.MessageType(v)
}

// toField returns the encoding of a message's To (field 2, a varint).
func toField(k string) []byte {
	b := []byte(k)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if num == 2 && typ == protowire.VarintType {
			return b
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		b = b[n:]
	}
	panic("a message without To")
}

// feed gives member n an input and handles its Readies. Live, the input
// is recorded and its effects on the world made; rebuilding (!live),
// only the member changes.
func (s *system) feed(n *simNode, in input, live bool) error {
	if live {
		n.inputs = append(n.inputs, in)
	}
	var err error
	switch in.kind {
	case inStep:
		m := &pb.Message{}
		must(proto.Unmarshal(in.data, m))
		_ = n.rn.Step(m) // errors: a response from a member it does not know
	case inCampaign:
		err = n.rn.Campaign()
	case inPropose:
		if err = n.rn.Propose(in.data); err == nil {
			n.seq++
		}
	case inConfChange:
		err = n.rn.ProposeConfChange(proto.Clone(in.cc).(*pb.ConfChangeV2))
	}
	for n.rn.HasReady() {
		s.handleReady(n, in.now, live)
	}
	return err
}

func (s *system) propose(n *simNode, who int, cmds []Cmd) bool {
	id := propID{n.id, n.seq + 1}
	payload, err := msgpack.Marshal(cmds)
	must(err)
	data := binary.AppendUvarint(binary.AppendUvarint(nil, id.node), id.seq)
	if err := s.feed(n, input{kind: inPropose, now: s.now, data: append(data, payload...)}, true); err != nil {
		return false
	}
	p := proposal{claimant: who, op: cmds[0].Op}
	defer func() { s.props[id] = p }()
	if who < 0 {
		return true
	}
	c := &s.cl[who]
	c.props++
	c.call, c.callAt = id, s.now
	switch cmds[0].Op {
	case OpClaim:
		c.phase = claiming
		for h, t := range s.reported {
			if h != cmds[0].Holder {
				p.floor = max(p.floor, t)
			}
		}
	case OpRelease:
		c.phase = releasing
		c.leaseEnd = min(c.leaseEnd, s.now) // it stops counting on the grant
	}
	return true
}

func decodeEntry(data []byte) (propID, []Cmd, error) {
	node, n := binary.Uvarint(data)
	if n <= 0 {
		return propID{}, nil, fmt.Errorf("bad header")
	}
	seq, m := binary.Uvarint(data[n:])
	if m <= 0 {
		return propID{}, nil, fmt.Errorf("bad header")
	}
	var cmds []Cmd
	err := msgpack.Unmarshal(data[n+m:], &cmds)
	return propID{node, seq}, cmds, err
}

func (s *system) handleReady(n *simNode, now int64, live bool) {
	at := time.Unix(0, now)
	rd := n.rn.Ready()
	if live && rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader && now > 0 {
		s.count("leader elected")
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		must(n.st.ApplySnapshot(rd.Snapshot))
		n.snapData = string(rd.Snapshot.GetData())
		if err := n.m.Restore(rd.Snapshot.GetData(), at); err != nil && live {
			s.fail("member %d: restore of the snapshot at %d: %v", n.id, rd.Snapshot.GetMetadata().GetIndex(), err)
		}
		n.conf = rd.Snapshot.GetMetadata().GetConfState()
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
		if live {
			s.agree(n)
			if _, held, _ := n.m.Get(s.cfg.key, at); held {
				s.count("snapshot with a grant installed")
			} else {
				s.count("snapshot installed")
			}
		}
	}
	must(n.st.Append(rd.Entries))
	if rd.HardState != nil {
		must(n.st.SetHardState(rd.HardState))
	}
	var snaps []uint64
	for _, m := range rd.Messages {
		if live {
			b, err := marshalOpts.Marshal(m)
			must(err)
			s.flight[string(b)]++
		}
		if m.GetType() == pb.MsgSnap {
			snaps = append(snaps, m.GetTo())
		}
	}
	for _, e := range rd.CommittedEntries {
		s.apply(n, e, at, live)
	}
	n.rn.Advance(rd)
	for _, to := range snaps {
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
}

func (s *system) apply(n *simNode, e *pb.Entry, at time.Time, live bool) {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) == 0 {
			break // a new leader's empty entry
		}
		id, cmds, err := decodeEntry(e.GetData())
		if err != nil {
			if live {
				s.fail("member %d: entry %d: %v", n.id, e.GetIndex(), err)
			}
			break
		}
		res := n.m.Apply(cmds, at)
		if live {
			if n.seen[id] {
				s.count("a proposal's entry applied twice")
			}
			s.results(n, id, cmds, res)
		}
		if n.seen == nil {
			n.seen = map[propID]bool{}
		}
		n.seen[id] = true
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		must(proto.Unmarshal(e.GetData(), &cc))
		n.conf = n.rn.ApplyConfChange(&cc)
		if live {
			s.count(fmt.Sprintf("%v %d applied", cc.GetChanges()[0].GetType(), cc.GetChanges()[0].GetNodeId()))
		}
		if cc.GetChanges()[0].GetType() == pb.ConfChangeAddLearnerNode {
			// As raftgroup: a member was added, so snapshot now (the
			// log was compacted before: the initial snapshot).
			data, err := n.m.Snapshot()
			must(err)
			_, err = n.st.CreateSnapshot(e.GetIndex(), n.conf, data)
			must(err)
			must(n.st.Compact(e.GetIndex()))
			n.snapData = string(data)
		}
	default:
		if live {
			s.fail("member %d: unexpected entry type %v", n.id, e.GetType())
		}
	}
	n.applied = e.GetIndex()
	if live {
		s.agree(n)
	}
}
