package voters

import (
	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/internal/leases"
)

// RPC methods of the voter service, served by every node that runs it.
const (
	methodRaft  = "voters.raft"  // Raft messages for a member of a group
	methodDo    = "voters.do"    // commands for the group's leader
	methodLeave = "voters.leave" // a member asks the leader to remove it
)

// Gossiped tags. tagID is this incarnation's Raft ID (hex): every node
// running the service has it; while a member hands over before leaving
// the cluster it is "-" and the ID (still reachable, no candidate for
// the group), and then empty. tagRole, "<group>/<role>" (hex group ID;
// role l = leader, v = voter, r = learner), is set while the node is in a
// group's configuration.
const (
	tagID   = "_v"
	tagRole = "_vg"
)

// raftBatch carries Raft messages (protobuf) to member To of Group.
type raftBatch struct {
	Group uint64   `msgpack:"g"`
	To    uint64   `msgpack:"t"`
	Msgs  [][]byte `msgpack:"m"`
}

// doReq asks the leader of Group to apply Cmds, or Events (then Cmds is
// empty), as one entry.
type doReq struct {
	Group  uint64         `msgpack:"g"`
	Cmds   []leases.Cmd   `msgpack:"c"`
	Events []eventlog.Cmd `msgpack:"e,omitempty"`
	// Appended asks for the answer once the leader appended Cmds (all
	// releases) to its log, without results (see DoAppended).
	Appended bool `msgpack:"a,omitempty"`
}

// doResp is the results, or NotLeader with the leader the voter knows
// of (Leader, possibly "") and its group.
type doResp struct {
	Results   []leases.Result   `msgpack:"r,omitempty"`
	Events    []eventlog.Result `msgpack:"v,omitempty"`
	NotLeader bool              `msgpack:"n,omitempty"`
	Leader    string            `msgpack:"l,omitempty"`
	Group     uint64            `msgpack:"g,omitempty"`
}

// leaveReq asks the leader of Group to remove member ID.
type leaveReq struct {
	Group uint64 `msgpack:"g"`
	ID    uint64 `msgpack:"i"`
}
