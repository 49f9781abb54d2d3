package voters

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/wire"
)

func newMachine() machine {
	return machine{leases.New(), eventlog.New(eventRetention), cluster.SystemClock{}, &stampSeen{}}
}

// A machine applies lease and event entries apart, snapshots both, and
// restores its own snapshots and a lease table's alone; a malformed
// event entry is an error result that changes nothing.
func TestMachine(t *testing.T) {
	m := newMachine()
	m.Apply(1, leases.AppendCmds(nil, []leases.Cmd{{Op: leases.OpFound, Token: 100}}))
	entry, err := appendEventCmds(nil, []eventlog.Cmd{{Op: eventlog.OpPublish, Topic: "t", Events: []eventlog.Event{{Payload: []byte("x")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res, ok := m.Apply(2, entry).([]eventlog.Result); !ok || res[0].Offsets[0] != 1 {
		t.Fatalf("event entry: %#v", m.Apply(2, entry))
	}
	for _, bad := range [][]byte{{eventsTag}, {eventsTag, 0xdd, 0xff, 0xff, 0xff, 0xff}, {eventsTag, 0x91, 0xc1}} {
		if _, ok := m.Apply(3, bad).(error); !ok {
			t.Errorf("entry % x: applied", bad)
		}
	}
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	n := newMachine()
	if err := n.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if info, _ := n.ev.Info("t"); info.Next != 2 || n.t.Last() != m.t.Last() {
		t.Errorf("restored: topic %+v, last token %d; want offset 1 and token %d", info, n.t.Last(), m.t.Last())
	}
	legacy, _ := m.t.Snapshot()
	if err := n.Restore(legacy); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.ev.Info("t"); ok || n.t.Last() != m.t.Last() {
		t.Errorf("a lease table's snapshot alone: the events stay, or the tokens do not")
	}
	if err := n.Restore([]byte{eventsTag, 0xdd, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Error("restored a snapshot of four billion parts held in no bytes")
	}
}

// Requests and responses with events travel in msgpack's own form, which
// the hand-written parsers leave to msgpack.
func TestEventRequestsRoundTrip(t *testing.T) {
	req := doReq{Group: 7, Events: []eventlog.Cmd{{Op: eventlog.OpPublish, Topic: "t", Events: []eventlog.Event{{Key: "k", Payload: []byte("p")}}}}}
	var got doReq
	if err := wire.Decode(req.AppendMsgpack(nil), &got); err != nil || got.Group != 7 || len(got.Events) != 1 || got.Events[0].Events[0].Key != "k" {
		t.Fatalf("request: %+v, %v", got, err)
	}
	resp := doResp{Events: []eventlog.Result{{Offsets: []uint64{3}}}}
	var back doResp
	if err := wire.Decode(resp.AppendMsgpack(nil), &back); err != nil || len(back.Events) != 1 || back.Events[0].Offsets[0] != 3 {
		t.Fatalf("response: %+v, %v", back, err)
	}
}

// The snapshot's envelope is written by hand: it must read back with
// msgpack as the snapshot struct, whatever the parts' sizes.
func TestSnapshotEnvelope(t *testing.T) {
	for _, n := range []int{0, 1, 300, 70000} {
		l, e := bytes.Repeat([]byte{1}, n), bytes.Repeat([]byte{2}, n+5)
		b := appendSnapshot(nil, l, e)
		var s snapshot
		if b[0] != eventsTag || msgpack.Unmarshal(b[1:], &s) != nil || !bytes.Equal(s.Leases, l) || !bytes.Equal(s.Events, e) {
			t.Errorf("parts of %d and %d bytes do not read back", len(l), len(e))
		}
	}
}

// A machine notes the latest event stamp it applied and when; one that
// restored a snapshot notes the snapshot's latest event time as of the
// restore, so a leader it becomes goes on from there (member.eventTime).
func TestMachineNotesStamps(t *testing.T) {
	m := newMachine()
	entry, err := appendEventCmds(nil, []eventlog.Cmd{{Op: eventlog.OpPublish, Topic: "t", Now: 5e9, Events: []eventlog.Event{{Payload: []byte("x")}}}})
	if err != nil {
		t.Fatal(err)
	}
	m.Apply(1, entry)
	if now, at := m.seen.get(); now != 5e9 || at.IsZero() {
		t.Errorf("after applying a stamp of 5s: %d at %v", now, at)
	}
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	n := newMachine()
	if err := n.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if now, at := n.seen.get(); now != 5e9 || at.IsZero() {
		t.Errorf("after a restore: %d at %v; want the snapshot's latest event time, 5s, as of the restore", now, at)
	}
}
