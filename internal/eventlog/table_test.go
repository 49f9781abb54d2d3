package eventlog

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

const sec = int64(time.Second)

func newTable() *Table { return New(Retention{MaxBytes: 1 << 20}) }

func publish(t *testing.T, tb *Table, topic string, now int64, payloads ...string) []uint64 {
	t.Helper()
	c := Cmd{Op: OpPublish, Topic: topic, Now: now}
	for _, p := range payloads {
		c.Events = append(c.Events, Event{Payload: []byte(p)})
	}
	r := tb.Apply([]Cmd{c})[0]
	if err := r.Error(); err != nil {
		t.Fatalf("publish %v: %v", payloads, err)
	}
	return r.Offsets
}

func read(t *testing.T, tb *Table, topic string, from uint64) []string {
	t.Helper()
	es, _, err := tb.Read(topic, from, 1000)
	if err != nil {
		t.Fatalf("read %s from %d: %v", topic, from, err)
	}
	var out []string
	for i, e := range es {
		if e.Offset != from+uint64(i) {
			t.Fatalf("event %d of a read from %d has offset %d", i, from, e.Offset)
		}
		out = append(out, string(e.Payload))
	}
	return out
}

// Offsets start at 1 and follow each other; a read returns copies.
func TestPublishAndRead(t *testing.T) {
	tb := newTable()
	if got := publish(t, tb, "a", sec, "x", "y"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("offsets %v, want [1 2]", got)
	}
	publish(t, tb, "a", 2*sec, "z")
	publish(t, tb, "b", 2*sec, "other topic")
	if got := read(t, tb, "a", 2); !slices.Equal(got, []string{"y", "z"}) {
		t.Errorf("read from 2 = %q", got)
	}
	es, next, _ := tb.Read("a", 1, 1)
	es[0].Payload[0] = 'X'
	if got := read(t, tb, "a", 1)[0]; got != "x" || next != 4 {
		t.Errorf("after changing a read's payload the table has %q (next %d), want x (4)", got, next)
	}
	if es, next, err := tb.Read("none", 1, 10); err != nil || len(es) != 0 || next != 1 {
		t.Errorf("read of an unknown topic = %v, %d, %v; want nothing yet, next 1", es, next, err)
	}
	if _, _, err := tb.Read("a", 0, 10); !errors.Is(err, ErrTruncated) {
		t.Errorf("read from 0 = %v, want ErrTruncated", err)
	}
}

// A key already in the topic returns its offset and appends nothing; an
// event stamped earlier than the last takes the last one's time.
func TestKeysAndTimes(t *testing.T) {
	tb := newTable()
	r := tb.Apply([]Cmd{{Op: OpPublish, Topic: "a", Now: 5 * sec, Events: []Event{{Key: "k1", Payload: []byte("1")}, {Key: "k1", Payload: []byte("again")}}},
		{Op: OpPublish, Topic: "a", Now: 3 * sec, Events: []Event{{Key: "k2", Payload: []byte("2")}, {Key: "k1"}}}})
	if !slices.Equal(r[0].Offsets, []uint64{1, 1}) || !slices.Equal(r[1].Offsets, []uint64{2, 1}) {
		t.Fatalf("offsets %v %v, want [1 1] [2 1]", r[0].Offsets, r[1].Offsets)
	}
	es, _, _ := tb.Read("a", 1, 10)
	if len(es) != 2 || es[1].Time != 5*sec {
		t.Errorf("events %+v; want two, the second at the first's time 5s", es)
	}
	if off, _ := tb.Seek("a", 5*sec); off != 1 {
		t.Errorf("Seek(5s) = %d, want 1", off)
	}
	if off, _ := tb.Seek("a", 6*sec); off != 3 {
		t.Errorf("Seek(6s) = %d, want the next offset 3", off)
	}
}

// Retention removes a prefix: by bytes on publish (the newest stays),
// by age on OpTrim; a read from before it is ErrTruncated, and a key
// removed with its event can be published again.
func TestRetention(t *testing.T) {
	tb := New(Retention{MaxBytes: 10})
	publish(t, tb, "a", sec, "0123", "4567")
	tb.Apply([]Cmd{{Op: OpPublish, Topic: "a", Now: 2 * sec, Events: []Event{{Key: "k", Payload: []byte("89ab")}}}})
	if info, _ := tb.Info("a"); info.First != 2 || info.Next != 4 || info.Bytes != 9 {
		t.Fatalf("after 13 bytes into 10: %+v, want offsets [2, 4) and 9 bytes", info)
	}
	if _, _, err := tb.Read("a", 1, 10); !errors.Is(err, ErrTruncated) {
		t.Errorf("read from 1 = %v, want ErrTruncated", err)
	}
	publish(t, tb, "a", 3*sec, "this one is larger than the bound")
	if got := read(t, tb, "a", 4); len(got) != 1 {
		t.Errorf("an event larger than the bound is kept alone: %q", got)
	}
	if r := tb.Apply([]Cmd{{Op: OpConfigure, Topic: "a", MaxAge: 2 * time.Second, MaxBytes: 1000}}); r[0].Err != 0 {
		t.Fatal(r[0].Error())
	}
	publish(t, tb, "a", 4*sec, "late")
	if r := tb.Apply([]Cmd{{Op: OpTrim, Topic: "a", Now: 5*sec + 1}}); r[0].Dropped != 1 {
		t.Errorf("trim at 5s with MaxAge 2s dropped %d, want the event of 3s", r[0].Dropped)
	}
	if got := read(t, tb, "a", 5); !slices.Equal(got, []string{"late"}) {
		t.Errorf("after the trim: %q", got)
	}
	r := tb.Apply([]Cmd{{Op: OpPublish, Topic: "a", Now: 6 * sec, Events: []Event{{Key: "k"}}}})
	if r[0].Offsets[0] != 6 {
		t.Errorf("a key whose event was removed gets offset %d, want a new one (6)", r[0].Offsets[0])
	}
}

// Malformed commands are refused with CodeBadCmd and change nothing.
func TestBadCommands(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "x")
	before, _ := tb.Snapshot()
	for _, c := range []Cmd{
		{Op: OpPublish},
		{Op: OpPublish, Topic: "a"},
		{Op: Op(99), Topic: "a"},
		{Op: OpConfigure, Topic: "a", MaxBytes: -1},
		{Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 0, AckWait: time.Second},
		{Op: OpFetch, Topic: "a", Member: "m", Max: 1, AckWait: time.Second},
		{Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 1},
	} {
		if r := tb.Apply([]Cmd{c})[0]; !errors.Is(r.Error(), ErrBadCmd) {
			t.Errorf("%v %+v: %v, want ErrBadCmd", c.Op, c, r.Error())
		}
	}
	if r := tb.Apply([]Cmd{{Op: OpTrim, Topic: "none"}})[0]; !errors.Is(r.Error(), ErrNoTopic) {
		t.Errorf("trim of an unknown topic: %v, want ErrNoTopic", r.Error())
	}
	if after, _ := tb.Snapshot(); string(after) != string(before) {
		t.Error("a refused command changed the table")
	}
	if r := tb.Apply([]Cmd{{Op: OpPosition, Topic: "a"}, {Op: OpPosition, Topic: "none"}}); r[0].Offsets[0] != 2 || r[1].Offsets[0] != 1 {
		t.Errorf("positions %v %v, want 2 and 1", r[0].Offsets, r[1].Offsets)
	}
	if s := Op(99).String(); s != "op(99)" {
		t.Errorf("Op(99) = %q", s)
	}
	for op := OpPublish; op <= OpPosition; op++ {
		if s := op.String(); s == fmt.Sprintf("op(%d)", op) {
			t.Errorf("op %d has no name", op)
		}
	}
}

// OpDelete removes a topic, or one group of it.
func TestDelete(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "x")
	tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 1, AckWait: time.Second, From: 1}})
	tb.Apply([]Cmd{{Op: OpDelete, Topic: "a", Group: "g"}})
	if _, ok := tb.Group("a", "g"); ok {
		t.Error("the group outlived its deletion")
	}
	tb.Apply([]Cmd{{Op: OpDelete, Topic: "a"}})
	if _, ok := tb.Info("a"); ok {
		t.Error("the topic outlived its deletion")
	}
	if r := tb.Apply([]Cmd{{Op: OpDelete, Topic: "a"}})[0]; !errors.Is(r.Error(), ErrNoTopic) {
		t.Errorf("second delete: %v, want ErrNoTopic", r.Error())
	}
}
