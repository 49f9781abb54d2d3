package voters

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func raftMsg(typ raftpb.MessageType, to, commit uint64, entries int) *raftpb.Message {
	index := commit // a commit notice names the last index the follower has
	m := &raftpb.Message{Type: typ.Enum(), To: &to, Commit: &commit, Index: &index}
	for range entries {
		m.Entries = append(m.Entries, &raftpb.Entry{})
	}
	return m
}

// probe is an empty append at index, past a follower's match: what the
// leader sends a follower it probes, or whose window of appends is full.
func probe(to, commit, index uint64) *raftpb.Message {
	m := raftMsg(raftpb.MsgApp, to, commit, 0)
	m.Index = &index
	return m
}

func describe(batch []outMsg) []string {
	var out []string
	for _, om := range batch {
		out = append(out, fmt.Sprintf("%v/%d/%d/%d", om.m.GetType(), om.group, om.m.GetTo(), om.m.GetCommit()))
	}
	return out
}

func TestSupersede(t *testing.T) {
	batch := []outMsg{
		{1, raftMsg(raftpb.MsgApp, 2, 5, 0)},       // dropped: the append to 2 below follows it
		{2, raftMsg(raftpb.MsgApp, 2, 5, 0)},       // kept: another group
		{1, raftMsg(raftpb.MsgApp, 3, 5, 1)},       // kept: has entries
		{1, raftMsg(raftpb.MsgApp, 3, 6, 0)},       // kept: nothing follows it for 3
		{1, raftMsg(raftpb.MsgHeartbeat, 2, 6, 0)}, // kept, and supersedes nothing
		{1, raftMsg(raftpb.MsgApp, 2, 6, 1)},       // kept
		{1, raftMsg(raftpb.MsgAppResp, 2, 0, 0)},   // kept
		{1, raftMsg(raftpb.MsgApp, 4, 7, 0)},       // dropped: a heartbeat to 4 with commit 7 follows
		{1, raftMsg(raftpb.MsgApp, 5, 7, 0)},       // kept: the heartbeat to 5 carries a lower commit
		{1, raftMsg(raftpb.MsgHeartbeat, 4, 7, 0)}, // kept
		{1, raftMsg(raftpb.MsgHeartbeat, 5, 6, 0)}, // kept
		{1, probe(6, 7, 9)},                        // kept: a probe past the follower's match
		{1, raftMsg(raftpb.MsgHeartbeat, 6, 7, 0)}, // kept
	}
	got := describe(supersede(batch))
	want := []string{"MsgApp/2/2/5", "MsgApp/1/3/5", "MsgApp/1/3/6", "MsgHeartbeat/1/2/6", "MsgApp/1/2/6", "MsgAppResp/1/2/0",
		"MsgApp/1/5/7", "MsgHeartbeat/1/4/7", "MsgHeartbeat/1/5/6", "MsgApp/1/6/7", "MsgHeartbeat/1/6/7"}
	if len(got) != len(want) {
		t.Fatalf("supersede = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("supersede = %v, want %v", got, want)
		}
	}
}

func TestHoldNotices(t *testing.T) {
	run := func(t *testing.T, next *raftpb.Message, after time.Duration) ([]string, time.Duration) {
		var got []string
		var took time.Duration
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := make(chan outMsg, 4)
			s := &sender{o: &outbox{s: &Service{ctx: ctx}}, ch: ch, hold: time.NewTimer(time.Hour)}
			s.hold.Stop()
			if next != nil {
				time.AfterFunc(after, func() { ch <- outMsg{1, next} })
			}
			start := time.Now()
			got = describe(s.holdNotices([]outMsg{{1, raftMsg(raftpb.MsgApp, 2, 5, 0)}}))
			took = time.Since(start)
		})
		return got, took
	}
	// A later append within the hold replaces the notice at once.
	got, took := run(t, raftMsg(raftpb.MsgApp, 2, 6, 1), time.Millisecond)
	if len(got) != 1 || got[0] != "MsgApp/1/2/6" || took != time.Millisecond {
		t.Fatalf("with an append after 1 ms: %v after %v, want [MsgApp/1/2/6] after 1ms", got, took)
	}
	// Nothing else: the notice goes out after commitHold.
	got, took = run(t, nil, 0)
	if len(got) != 1 || got[0] != "MsgApp/1/2/5" || took != commitHold {
		t.Fatalf("alone: %v after %v, want [MsgApp/1/2/5] after %v", got, took, commitHold)
	}
	// A message that supersedes nothing ends the hold: both go.
	got, took = run(t, raftMsg(raftpb.MsgHeartbeat, 3, 5, 0), 2*time.Millisecond)
	if len(got) != 2 || took != 2*time.Millisecond {
		t.Fatalf("with a heartbeat to another member: %v after %v", got, took)
	}
	// The next heartbeat to the member carries the commit: it alone goes.
	got, took = run(t, raftMsg(raftpb.MsgHeartbeat, 2, 5, 0), 3*time.Millisecond)
	if len(got) != 1 || got[0] != "MsgHeartbeat/1/2/5" || took != 3*time.Millisecond {
		t.Fatalf("with a heartbeat to the member: %v after %v, want [MsgHeartbeat/1/2/5] after 3ms", got, took)
	}
	// An append arriving after the hold finds the notice already sent.
	got, took = run(t, raftMsg(raftpb.MsgApp, 2, 6, 1), 2*commitHold)
	if len(got) != 1 || got[0] != "MsgApp/1/2/5" || took != commitHold {
		t.Fatalf("with an append after the hold: %v after %v", got, took)
	}
}

// The Raft loop sends a message directly only when nothing to the same
// member is queued or being delivered (no message overtakes another),
// and never a commit notice, which waits in the queue to be superseded.
// (The direct sends themselves run in every test of a group on real
// sockets.)
func TestSendNowKeepsOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := &outbox{s: &Service{ctx: ctx}, pending: map[string]int{"n2": 1}}
	if o.sendNow("n2", outMsg{1, raftMsg(raftpb.MsgAppResp, 2, 5, 0)}) {
		t.Error("sent directly while a message to the member was queued")
	}
	o.pending = nil
	o.direct = map[string]bool{"n2": true}
	if o.sendNow("n2", outMsg{1, raftMsg(raftpb.MsgAppResp, 2, 5, 0)}) {
		t.Error("sent directly while another direct send was under way")
	}
	o.direct = nil
	if o.sendNow("n2", outMsg{1, raftMsg(raftpb.MsgApp, 2, 5, 0)}) {
		t.Error("sent a commit notice directly")
	}
	o.delivered("n3", 0)
	if len(o.pending) != 0 {
		t.Errorf("pending = %v after nothing was queued", o.pending)
	}
}
