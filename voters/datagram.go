package voters

import (
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// copyByDatagram sends a copy of m to name as a datagram (cluster's
// NotifyDatagram) besides the stream's: every heartbeat and heartbeat
// answer, and, while the link to name loses packets (cluster's Lossy,
// which the heartbeats' datagrams measure), every message that fits.
//
// Why: on a lossy link a stream's lost segment holds back every later
// message on it until TCP sends it again, 200 ms at least when the
// stream was quiet; a follower that hears no heartbeat for an election
// timeout (100-190 ms) campaigns, and a leader that hears from no
// majority steps down, so 20 % loss kept the group without a leader
// for much of the time, and each lock handover waited for
// retransmissions. A datagram copy arrives on its own, or is lost on
// its own. Raft tolerates the duplicates and the reordering this makes
// (the receiver drops what it has, and a reordered append is refused
// and sent again), so safety does not depend on which copy arrives.
// Heartbeats always go twice so that loss is measured before it
// matters; they are small and few (one per follower every 20 ms).
func (o *outbox) copyByDatagram(name string, om outMsg) {
	switch om.m.GetType() {
	case raftpb.MsgHeartbeat, raftpb.MsgHeartbeatResp:
	case raftpb.MsgApp, raftpb.MsgAppResp, raftpb.MsgVote, raftpb.MsgVoteResp, raftpb.MsgPreVote, raftpb.MsgPreVoteResp:
		if !o.s.node.Lossy(name) {
			return
		}
	default:
		// Never a forwarded proposal (MsgProp): Raft appends each copy
		// it receives, and a command would be applied twice. Nor what
		// a late duplicate would set off again: a leadership transfer
		// (MsgTimeoutNow starts an election), a read index request.
		return
	}
	b, err := proto.Marshal(om.m)
	if err != nil {
		return
	}
	o.s.node.NotifyDatagram(name, methodRaft, &raftBatch{Group: om.group, To: om.m.GetTo(), Msgs: [][]byte{b}})
}
