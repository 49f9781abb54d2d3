package leases

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

func (s *system) fail(format string, args ...any) {
	if s.violation == "" {
		s.violation = fmt.Sprintf(format, args...)
	}
}

// agree checks that n's table after its applied index is the one every
// other member had after that index.
func (s *system) agree(n *simNode) {
	st := canonical(n.m)
	if prev, ok := s.atIndex[n.applied]; ok && prev != st {
		s.fail("agreement: member %d's table after index %d is %s; another member's was %s",
			n.id, n.applied, st, prev)
		return
	}
	s.atIndex[n.applied] = st
}

// results checks a batch's results on member n (L1, L2), and returns
// them to the claimant if n proposed it.
func (s *system) results(n *simNode, id propID, cmds []Cmd, res []Result) {
	p, known := s.props[id]
	for i, c := range cmds {
		r := res[i]
		switch {
		case c.Op == OpClaim && !r.OK:
			s.count("claim refused")
		case c.Op == OpClaim && s.tokens[r.Token] == grantOf{c.Key, c.Holder}:
			s.count("claim answered with the grant it had")
		case c.Op == OpClaim:
			s.count("grant")
		case c.Op == OpRenew && r.Preempt:
			s.count("renewal told to step down")
		case r.OK:
			s.count(c.Op.String())
		}
		if c.Op != OpClaim || !r.OK {
			continue
		}
		g := grantOf{c.Key, c.Holder}
		prop := "L1"
		if strings.HasPrefix(c.Key, "e/") {
			prop = "E1"
		}
		if prev, ok := s.tokens[r.Token]; ok && prev != g {
			s.fail("%s: token %d granted to %+v for %q on member %d, and before to %+v for %q",
				prop, r.Token, c.Holder, c.Key, n.id, prev.holder, prev.key)
		}
		s.tokens[r.Token] = g
		if known && p.floor > 0 {
			s.count("grant checked against one reported before its claim (L2)")
		}
		if known && r.Token <= p.floor {
			s.fail("%c2: claim %v by %+v got token %d on member %d, but token %d was reported to another holder before it was proposed",
				prop[0], id, c.Holder, r.Token, n.id, p.floor)
		}
	}
	if !known || id.node != n.id || p.returned {
		return
	}
	p.returned = true
	s.props[id] = p
	for i, c := range cmds {
		if c.Op == OpClaim && res[i].OK {
			s.reported[c.Holder] = max(s.reported[c.Holder], res[i].Token)
		}
	}
	if p.claimant < 0 {
		return
	}
	cl := &s.cl[p.claimant]
	if cl.call != id {
		return // a call it gave up on (it retried)
	}
	cl.call = propID{}
	r := res[0]
	switch p.op {
	case OpClaim:
		if r.OK {
			cl.phase, cl.token = holding, r.Token
			cl.leaseEnd = max(cl.leaseEnd, cl.callAt+s.cfg.ttl)
		} else {
			cl.phase = idle
		}
	case OpRenew:
		if r.OK {
			cl.leaseEnd = max(cl.leaseEnd, cl.callAt+s.cfg.ttl)
		} else { // the grant is gone
			cl.phase, cl.token, cl.acq = idle, 0, cl.acq+1
			cl.leaseEnd = min(cl.leaseEnd, s.now)
		}
	case OpRelease:
		cl.phase, cl.token, cl.acq = idle, 0, cl.acq+1
	}
}

// checkLeases checks L3: no two claimants count on a grant at once.
func (s *system) checkLeases() {
	a, b := &s.cl[0], &s.cl[1]
	if a.phase == holding && b.phase == holding && a.leaseEnd > s.now && b.leaseEnd > s.now {
		prop := "L3"
		if s.cfg.election {
			prop = "E3"
		}
		s.fail("%s: at %d, A counts on token %d until %d and B on token %d until %d",
			prop, s.now, a.token, a.leaseEnd, b.token, b.leaseEnd)
	}
}

// canonical is a table's replicated state: what Snapshot encodes, in a
// readable form, with the records sorted by key (Snapshot's order
// follows map iteration). It reads the *Table inside m directly, for
// speed.
func canonical(m machine) string {
	t := m.(interface{ inner() *Table }).inner()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := make([]byte, 0, 128)
	b = fmt.Appendf(b, "{founded %v last %d quiet %v", t.founded, t.last, t.quiet)
	for _, k := range slices.Sorted(maps.Keys(t.recs)) {
		r := t.recs[k]
		b = fmt.Appendf(b, "; %q %s/%s/%d/%d token %d ttl %d seq %d", k, r.holder.Node, r.holder.Owner, r.holder.Handle, r.holder.Priority, r.token, r.ttl, r.seq)
		if p := r.preempt; p != nil {
			b = fmt.Appendf(b, " preempted by %s/%s/%d/%d", p.Node, p.Owner, p.Handle, p.Priority)
		}
	}
	return string(append(b, '}'))
}

// inner gives the explorer the table inside a machine; the broken ones
// embed a *Table.
func (t *Table) inner() *Table { return t }

func describeMsg(k string) string {
	m := &pb.Message{}
	if err := proto.Unmarshal([]byte(k), m); err != nil {
		return "?"
	}
	s := fmt.Sprintf("%v %d→%d term %d", m.GetType(), m.GetFrom(), m.GetTo(), m.GetTerm())
	switch m.GetType() {
	case pb.MsgApp:
		s += fmt.Sprintf(" after %d/%d, %d entries, commit %d", m.GetIndex(), m.GetLogTerm(), len(m.GetEntries()), m.GetCommit())
	case pb.MsgAppResp:
		s += fmt.Sprintf(" index %d", m.GetIndex())
		if m.GetReject() {
			s += fmt.Sprintf(" rejected (hint %d)", m.GetRejectHint())
		}
	case pb.MsgVoteResp:
		if m.GetReject() {
			s += " rejected"
		}
	case pb.MsgProp:
		s += fmt.Sprintf(" %d entries", len(m.GetEntries()))
	case pb.MsgSnap:
		s += fmt.Sprintf(" at %d", m.GetSnapshot().GetMetadata().GetIndex())
	case pb.MsgHeartbeat:
		s += fmt.Sprintf(" commit %d", m.GetCommit())
	}
	return s
}

func (s *system) describe(c choice) string {
	if c.kind == chPropose {
		for _, x := range s.next(c.who) {
			if x.Op == c.op {
				return fmt.Sprintf("%c proposes %v %+v token %d at %d", 'A'+c.who, x.Op, x.Holder, x.Token, c.node)
			}
		}
	}
	return c.String()
}

func (s *system) String() string {
	var b strings.Builder
	for _, n := range s.nodes[1:] {
		st := n.rn.BasicStatus()
		fmt.Fprintf(&b, "[%d %v term %d applied %d table %s] ", n.id, st.RaftState, st.GetTerm(), n.applied, canonical(n.m))
	}
	for i, c := range s.cl {
		fmt.Fprintf(&b, "%c: phase %d token %d until %d; ", 'A'+i, c.phase, c.token, c.leaseEnd)
	}
	return b.String()
}

// raftField reads an unexported field of the RawNode's raft.
func raftField(rn *raft.RawNode, name string) reflect.Value {
	r := reflect.ValueOf(rn).Elem().FieldByName("raft")
	if !r.IsValid() {
		panic("raft.RawNode has no field raft: update raftField for this raft version")
	}
	f := r.Elem().FieldByName(name)
	if !f.IsValid() {
		panic("raft has no field " + name + ": update the explorer for this raft version")
	}
	return f
}

// hash summarizes everything that decides the system's future and the
// checkers' verdicts. Times are relative to now, so that states reached
// at different depths compare. Without the network, it leaves out the
// messages in flight and the counts of duplicates and drops.
func (s *system) hash(network bool) [16]byte {
	b := make([]byte, 0, 1024)
	u := func(vs ...uint64) {
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
	}
	str := func(x string) { u(uint64(len(x))); b = append(b, x...) }
	holder := func(h Holder) { str(h.Node); str(h.Owner); u(h.Handle, uint64(h.Priority)) }
	rel := func(t int64) uint64 { return uint64(max(t-s.now, 0)) }
	for _, n := range s.nodes[1:] {
		st := s.staticHash(n)
		b = append(b, st[:]...)
		if s.expiries < s.cfg.maxExpiries { // how long it holds the grant: when it may propose the expiry
			g, held, _ := n.m.Get(s.cfg.key, s.at())
			u(b2u(held), uint64(g.Remaining))
		}
	}
	if network {
		for _, k := range slices.Sorted(maps.Keys(s.flight)) {
			str(k)
			u(uint64(s.flight[k]))
		}
		u(uint64(s.dups), uint64(s.drops))
	}
	for _, c := range s.cl {
		u(c.acq, uint64(c.phase), c.token, c.call.node, c.call.seq, uint64(c.props))
		if s.cfg.timed { // when its lease would end
			u(uint64(min(s.now-c.callAt, s.cfg.ttl)), rel(c.leaseEnd))
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(s.props), func(a, b propID) int {
		return cmp.Or(cmp.Compare(a.node, b.node), cmp.Compare(a.seq, b.seq))
	}) {
		p := s.props[id]
		u(id.node, id.seq, uint64(p.claimant+1), uint64(p.op), p.floor, b2u(p.returned))
	}
	for _, h := range slices.SortedFunc(maps.Keys(s.reported), CompareRank) {
		holder(h)
		u(s.reported[h])
	}
	for _, t := range slices.Sorted(maps.Keys(s.tokens)) {
		u(t)
		str(s.tokens[t].key)
		holder(s.tokens[t].holder)
	}
	u(uint64(s.campaigns), uint64(s.expiries), uint64(s.reconfs))
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// staticHash summarizes member n but for its clock (how long its table
// holds the grant, which hash adds): raft's state (with the unexported
// fields that decide what it does next), its log and snapshot, and its
// table's replicated state. It depends on the member's inputs only, so
// it is kept until the next one.
func (s *system) staticHash(n *simNode) [16]byte {
	if n.hashed == len(n.inputs) {
		return n.static
	}
	b := make([]byte, 0, 1024)
	u := func(vs ...uint64) {
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
	}
	str := func(x string) { u(uint64(len(x))); b = append(b, x...) }
	st := n.rn.BasicStatus()
	u(n.id, st.GetTerm(), st.GetVote(), st.GetCommit(), st.Lead, uint64(st.RaftState), st.Applied, n.applied, n.seq)
	for _, ids := range [][]uint64{n.conf.GetVoters(), n.conf.GetLearners(), n.conf.GetVotersOutgoing(), n.conf.GetLearnersNext()} {
		u(uint64(len(ids)))
		u(ids...)
	}
	if st.RaftState == raft.StateLeader { // only a leader's progress is used
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			u(id, pr.Match, pr.Next, uint64(pr.State), pr.PendingSnapshot, b2u(pr.RecentActive), b2u(pr.MsgAppFlowPaused),
				b2u(pr.IsLearner), reflect.ValueOf(pr).FieldByName("sentCommit").Uint())
			// Inflights (nil here) never fill: MaxInflightMsgs is 256.
		})
		u(raftField(n.rn, "pendingConfIndex").Uint())
	}
	if st.RaftState == raft.StateCandidate { // only a candidate's votes are used
		var vs []uint64
		for it := raftField(n.rn, "trk").FieldByName("Votes").MapRange(); it.Next(); {
			vs = append(vs, it.Key().Uint()<<1|b2u(it.Value().Bool()))
		}
		slices.Sort(vs)
		u(uint64(len(vs)))
		u(vs...)
	}
	first, _ := n.st.FirstIndex()
	last, _ := n.st.LastIndex()
	t, err := n.st.Term(first - 1) // the snapshot's
	must(err)
	u(first, last, t)
	str(n.snapData)
	if last >= first {
		ents, err := n.st.Entries(first, last+1, 1<<62)
		must(err)
		for _, e := range ents {
			u(e.GetTerm(), uint64(e.GetType()))
			str(string(e.GetData()))
		}
	}
	str(canonical(n.m))
	sum := sha256.Sum256(b)
	n.hashed, n.static = len(n.inputs), [16]byte(sum[:16])
	return n.static
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
