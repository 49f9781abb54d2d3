package voters_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// FuzzReceive feeds arbitrary bytes to the handler of Raft batches of a
// running one-node group: as one message of a batch addressed to its
// member, and as a whole batch body, decoded as the RPC layer does. A
// message that does not decode, or that names a sender ID the calling
// node does not own, makes the handler return an error.
// Either way the node keeps serving, with the same member.
func FuzzReceive(f *testing.F) {
	enc := func(m *raftpb.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	u := proto.Uint64
	heartbeat := enc(&raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: u(7), From: u(8), Term: u(99), Commit: u(1 << 40)})
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x08})                               // a field with no value
	f.Add([]byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // entries, longer than the input
	f.Add([]byte{0x0f, 0x01})                         // wire type 7: invalid
	f.Add(heartbeat)
	f.Add(heartbeat[:len(heartbeat)-1])
	f.Add(enc(&raftpb.Message{Type: raftpb.MsgHup.Enum()}))          // a local message type, to nobody
	f.Add(enc(&raftpb.Message{Type: raftpb.MessageType(99).Enum()})) // an unknown type
	f.Add(enc(&raftpb.Message{Type: raftpb.MsgApp.Enum(), To: u(1), From: u(2), Entries: []*raftpb.Entry{{Data: []byte("x")}}}))
	f.Add(voters.RaftBatch(1, 2, heartbeat, []byte{0xff})) // a whole batch, for another group
	f.Add(voters.RaftBatch(0, 0))
	f.Fuzz(func(t *testing.T, raw []byte) {
		synctest.Test(t, func(t *testing.T) {
			c := simtest.Start(t, 1, 1)
			s, release := voters.Acquire(c.Node("n1"))
			defer release()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h := leases.Holder{Node: "n1"}
			if _, err := s.Do(ctx, []leases.Cmd{claim("before", h, time.Minute)}); err != nil {
				t.Fatalf("no group: %v", err)
			}
			before := s.State()

			// No message from "n2" can be stepped: it is malformed, or
			// its sender ID is not n2's (n2 has none).
			if err := s.ReceiveRaft(ctx, [][]byte{raw}, nil); err == nil {
				t.Errorf("handler took %x from a node that owns no Raft ID", raw)
			}
			_ = s.ReceiveRaft(ctx, nil, raw) // any error goes back to the caller

			res, err := s.Do(ctx, []leases.Cmd{claim("after", h, time.Minute)})
			if err != nil || !res[0].OK {
				t.Fatalf("the node stopped serving: %+v %v", res, err)
			}
			if after := s.State(); after.ID != before.ID || after.Group != before.Group || !after.Leader {
				t.Errorf("member %+v became %+v", before, after)
			}
		})
	})
}
