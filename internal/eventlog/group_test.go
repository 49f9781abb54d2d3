package eventlog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func fetch(tb *Table, member string, max int, now int64) []uint64 {
	r := tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: member, Max: max, Now: now, AckWait: time.Second, MaxDeliveries: 3, From: 1}})[0]
	var offs []uint64
	for _, e := range r.Events {
		offs = append(offs, e.Offset)
	}
	return offs
}

func settle(tb *Table, op Op, member string, off uint64, now int64) Result {
	return tb.Apply([]Cmd{{Op: op, Topic: "a", Group: "g", Member: member, Offset: off, Now: now}})[0]
}

// A group hands each offset to one member at a time; an ack ends it, a
// nack or an expired deadline hands it out again (first, in offset
// order), at most MaxDeliveries times.
func TestGroupDelivery(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "1", "2", "3", "4")
	if got := fetch(tb, "m1", 2, sec); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("m1 fetched %v, want [1 2]", got)
	}
	if got := fetch(tb, "m2", 5, sec); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("m2 fetched %v, want [3 4]: 1 and 2 are out with m1", got)
	}
	settle(tb, OpAck, "m2", 2, sec) // not m2's: nothing
	settle(tb, OpAck, "m1", 1, sec)
	settle(tb, OpNack, "m1", 2, sec)
	gi, _ := tb.Group("a", "g")
	if !slices.Equal(gi.Redo, []uint64{2}) || len(gi.Pending) != 2 || gi.Pending[3] != "m2" {
		t.Fatalf("group %+v; want 2 to redo, 3 and 4 out with m2", gi)
	}
	r := tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: "m3", Max: 5, Now: sec, AckWait: time.Second}})[0]
	if len(r.Events) != 1 || r.Events[0].Offset != 2 || r.Events[0].Deliveries != 2 {
		t.Fatalf("m3 fetched %+v, want offset 2 on its second delivery", r.Events)
	}
	// At 2s the deadlines of 3 and 4 (1s + 1s) and of 2 (its second)
	// pass.
	if r := settle(tb, OpExpire, "", 0, 2*sec); r.Dropped != 0 {
		t.Fatalf("expiry dropped %d, want none yet", r.Dropped)
	}
	if got := fetch(tb, "m1", 5, 2*sec); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("after the expiry m1 fetched %v, want [2 3 4]", got)
	}
	if r := settle(tb, OpExpire, "", 0, 4*sec); r.Dropped != 1 {
		t.Errorf("the third expiry of 2 dropped %d, want 1 (MaxDeliveries 3)", r.Dropped)
	}
	if got := fetch(tb, "m1", 5, 4*sec); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("then m1 fetched %v, want [3 4] (2 is done)", got)
	}
	publish(t, tb, "a", 5*sec, "5")
	if got := fetch(tb, "m2", 5, 5*sec); !slices.Equal(got, []uint64{5}) {
		t.Errorf("a new event: %v, want [5]", got)
	}
	// 3 and 4, fetched at 4s, are due at 5s; 5 at 6s.
	if due := tb.Due(5*sec - 1); len(due) != 0 {
		t.Errorf("Due before 5s = %+v, want nothing", due)
	}
	if due := tb.Due(5 * sec); len(due) != 1 || due[0].Op != OpExpire || due[0].Group != "g" || due[0].Now != 5*sec {
		t.Errorf("Due at 5s = %+v, want an expiry of g at 5s", due)
	}
	tb.Apply([]Cmd{{Op: OpConfigure, Topic: "a", MaxAge: time.Second}})
	if due := tb.Due(7 * sec); len(due) != 2 || due[0].Op != OpTrim {
		t.Errorf("Due at 7s with MaxAge 1s = %+v, want a trim and an expiry", due)
	}
}

// A group may start on a topic that has no event yet, and gets the
// first one when it comes.
func TestGroupBeforeTheTopic(t *testing.T) {
	tb := newTable()
	c := Cmd{Op: OpFetch, Topic: "new", Group: "g", Member: "m", Max: 5, AckWait: time.Second}
	if r := tb.Apply([]Cmd{c})[0]; r.Err != CodeOK || len(r.Events) != 0 {
		t.Fatalf("a fetch before the first event: %+v, want nothing and no error", r)
	}
	publish(t, tb, "new", sec, "first")
	if r := tb.Apply([]Cmd{c})[0]; len(r.Events) != 1 || r.Events[0].Offset != 1 {
		t.Fatalf("then: %+v, want offset 1", r.Events)
	}
}

// A new group starts at From, or at the topic's next offset; From
// before the topic's first is ErrTruncated.
func TestGroupStart(t *testing.T) {
	tb := New(Retention{MaxBytes: 2})
	publish(t, tb, "a", sec, "1", "2", "3") // keeps 2 and 3
	c := Cmd{Op: OpFetch, Topic: "a", Group: "late", Member: "m", Max: 5, AckWait: time.Second}
	if r := tb.Apply([]Cmd{c})[0]; len(r.Events) != 0 {
		t.Errorf("a group from the next offset got %+v", r.Events)
	}
	c.Group, c.From = "old", 1
	if r := tb.Apply([]Cmd{c})[0]; !errors.Is(r.Error(), ErrTruncated) {
		t.Errorf("a group from a removed offset: %v, want ErrTruncated", r.Error())
	}
	c.From = 2
	if r := tb.Apply([]Cmd{c})[0]; len(r.Events) != 2 || r.Events[0].Offset != 2 {
		t.Errorf("a group from 2 got %+v", r.Events)
	}
	if r := tb.Apply([]Cmd{{Op: OpAck, Topic: "a", Group: "none", Member: "m", Offset: 2}})[0]; !errors.Is(r.Error(), ErrNoTopic) {
		t.Errorf("ack to an unknown group: %v", r.Error())
	}
}

// Retention removes what a group holds of the events it removes: they
// are neither pending nor handed out again.
func TestGroupForgetsRemovedEvents(t *testing.T) {
	tb := New(Retention{MaxBytes: 3})
	publish(t, tb, "a", sec, "1", "2", "3")
	fetch(tb, "m", 2, sec)
	settle(tb, OpNack, "m", 1, sec)
	publish(t, tb, "a", sec, "4", "5") // keeps 3, 4, 5
	gi, _ := tb.Group("a", "g")
	if len(gi.Redo) != 0 || len(gi.Pending) != 0 || gi.Next != 3 {
		t.Errorf("group %+v; want nothing held and its position at 3", gi)
	}
	if got := fetch(tb, "m", 5, sec); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Errorf("fetched %v, want [3 4 5]", got)
	}
}

// Due keeps a lower bound of a group's deadlines so that the leader's
// steps need not walk every pending offset; a later fetch with a
// shorter AckWait, or a restored table, must still be seen due.
func TestGroupDueBound(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "1", "2")
	fetch(tb, "m1", 1, sec) // due at 2s
	if due := tb.Due(sec); len(due) != 0 {
		t.Fatalf("Due at 1s = %+v, want nothing", due)
	}
	r := tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: "m2", Max: 1, Now: sec + 1, AckWait: time.Millisecond}})[0]
	if len(r.Events) != 1 {
		t.Fatalf("m2 fetched %+v, want offset 2", r.Events)
	}
	if due := tb.Due(sec + 2*int64(time.Millisecond)); len(due) != 1 || due[0].Op != OpExpire {
		t.Fatalf("Due after m2's 1 ms = %+v, want an expiry", due)
	}
	snap, err := tb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := newTable()
	if err := back.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if due := back.Due(sec + 2*int64(time.Millisecond)); len(due) != 1 {
		t.Fatalf("Due of the restored table = %+v, want an expiry", due)
	}
}

// A numbered fetch sent again (its first answer was lost) gets back the
// offsets it handed out, unchanged: no new hand-out, no delivery counted
// twice, the same deadline, with what is left of the hold (Left) where
// a hand-out has all of AckWait. A new number fetches anew.
func TestGroupFetchSentAgain(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "1", "2", "3", "4")
	numbered := func(req uint64, now int64) []Event {
		return tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 2, Now: now, AckWait: time.Second, From: 1, Request: req}})[0].Events
	}
	first := numbered(7, sec)
	again := numbered(7, sec+int64(300*time.Millisecond))
	if len(first) != 2 || len(again) != 2 || again[0].Offset != 1 || again[1].Offset != 2 || again[0].Deliveries != 1 {
		t.Fatalf("fetch 7 = %+v, sent again = %+v; want offsets 1 and 2 twice, delivery 1", first, again)
	}
	if first[0].Left != int64(time.Second) || again[1].Left != int64(700*time.Millisecond) {
		t.Errorf("hold left: %v handed out, %v sent again 300ms later; want 1s and 700ms", time.Duration(first[0].Left), time.Duration(again[1].Left))
	}
	if late := numbered(7, 3*sec); len(late) != 2 || late[0].Left != 1 {
		t.Errorf("fetch 7 sent again past its deadline, not yet expired = %+v, want offsets 1 and 2 with Left 1 (held no more)", late)
	}
	if due := tb.Due(2 * sec); len(due) != 1 {
		t.Errorf("Due at 2s = %+v, want the expiry of the first fetch's deadline", due)
	}
	if next := numbered(8, sec); len(next) != 2 || next[0].Offset != 3 {
		t.Errorf("fetch 8 = %+v, want offsets 3 and 4", next)
	}
	settle(tb, OpAck, "m", 1, sec)
	settle(tb, OpAck, "m", 2, sec)
	// Once none of its offsets is out, a number is forgotten: a copy
	// that comes that late is a new fetch (here, of nothing left).
	if late := numbered(7, sec); len(late) != 0 {
		t.Errorf("fetch 7 once its offsets were acked = %+v, want nothing left to hand out", late)
	}
}
