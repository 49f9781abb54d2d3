package eventlog

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// randomCmds returns a batch of one to three random commands on two
// topics, at *now, which it moves on.
func randomCmds(rng *rand.Rand, now *int64) []Cmd {
	*now += rng.Int64N(300) * int64(time.Millisecond)
	var cmds []Cmd
	for range 1 + rng.IntN(3) {
		c := Cmd{Topic: []string{"a", "b"}[rng.IntN(2)], Now: *now, Group: []string{"g", "h"}[rng.IntN(2)], Member: []string{"m1", "m2", "m3"}[rng.IntN(3)]}
		switch k := rng.IntN(10); {
		case k < 4:
			c.Op = OpPublish
			for range 1 + rng.IntN(3) {
				e := Event{Payload: make([]byte, rng.IntN(8)), Time: *now - rng.Int64N(int64(time.Second))}
				if rng.IntN(3) == 0 {
					e.Key = string(rune('k' + rng.IntN(4)))
				}
				c.Events = append(c.Events, e)
			}
		case k < 6:
			c.Op, c.Max, c.AckWait, c.MaxDeliveries = OpFetch, 1+rng.IntN(3), time.Duration(1+rng.IntN(500))*time.Millisecond, rng.IntN(4)
			c.Request = uint64(rng.IntN(3)) // 0: not numbered; a number again: the fetch sent again
		case k < 7:
			c.Op, c.Offset = OpAck, uint64(1+rng.IntN(30))
		case k < 8:
			c.Op, c.Offset = OpNack, uint64(1+rng.IntN(30))
		case k < 9:
			c.Op = OpExpire
		default:
			c.Op, c.MaxAge = OpTrim, time.Second
			if rng.IntN(2) == 0 {
				c.Op = OpConfigure
			}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// out is an offset handed out, as the test's own model keeps it.
type out struct {
	member   string
	deadline int64
}

// model follows the results: S3 breaks if a fetch hands out an offset
// that is out with a member and was neither acked, nacked nor expired.
type model map[string]map[uint64]out // by topic/group

func (m model) follow(t *testing.T, c Cmd, r Result) {
	t.Helper()
	key := c.Topic + "/" + c.Group
	if m[key] == nil {
		m[key] = map[uint64]out{}
	}
	outs := m[key]
	switch c.Op {
	case OpFetch:
		for _, e := range r.Events {
			if o, ok := outs[e.Offset]; ok && o.member == c.Member && c.Request != 0 {
				continue // a fetch sent again gets what it handed out back, unchanged
			} else if ok {
				t.Fatalf("%s: offset %d handed to %s while out with %s", key, e.Offset, c.Member, o.member)
			}
			outs[e.Offset] = out{c.Member, c.Now + int64(c.AckWait)}
		}
	case OpAck, OpNack:
		if o, ok := outs[c.Offset]; ok && o.member == c.Member {
			delete(outs, c.Offset)
		}
	case OpExpire:
		for off, o := range outs {
			if o.deadline <= c.Now {
				delete(outs, off)
			}
		}
	case OpDelete:
		clear(outs)
	}
}

// check verifies the table's invariants: consecutive offsets from first
// with times in order, the byte bound, and groups within their topics.
func check(t *testing.T, tb *Table) {
	t.Helper()
	for name, tp := range tb.topics {
		var size int64
		for i, e := range tp.events {
			if e.Offset != tp.first+uint64(i) || i > 0 && e.Time < tp.events[i-1].Time {
				t.Fatalf("%s: event %d is %+v after %+v", name, i, e, tp.events[max(i-1, 0)])
			}
			size += e.size()
		}
		if tp.next != tp.first+uint64(len(tp.events)) || size != tp.bytes || size > tp.ret.MaxBytes && len(tp.events) > 1 {
			t.Fatalf("%s: offsets [%d, %d) over %d events, %d bytes (counted %d, bound %d)", name, tp.first, tp.next, len(tp.events), size, tp.bytes, tp.ret.MaxBytes)
		}
		for gname, g := range tp.groups {
			for _, off := range g.redo {
				if _, out := g.pending[off]; out || off < tp.first || off >= g.next {
					t.Fatalf("%s/%s: offset %d to redo is out, removed or not handed out yet", name, gname, off)
				}
			}
			counts := map[request]int{}
			for off, d := range g.pending {
				if off < tp.first || off >= g.next {
					t.Fatalf("%s/%s: offset %d out but removed or not handed out yet", name, gname, off)
				}
				if d.req != 0 {
					counts[request{d.member, d.req}]++
				}
			}
			if !maps.Equal(counts, g.requests) {
				t.Fatalf("%s/%s: fetch counts %v, pending says %v", name, gname, g.requests, counts)
			}
		}
	}
}

// Random histories keep the invariants and S3, and a table restored from
// a snapshot taken midway then gives the same results and the same
// snapshot as the one that applied everything.
func TestRandomHistories(t *testing.T) {
	for seed := range 200 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		a, m := New(Retention{MaxBytes: 40}), model{}
		var b *Table
		var now int64
		for step := range 300 {
			cmds := randomCmds(rng, &now)
			ra := a.Apply(cmds)
			for i, c := range cmds {
				m.follow(t, c, ra[i])
			}
			if b != nil {
				// Compared as they travel: nil and empty are alike.
				if rb := b.Apply(cmds); !sameEncoding(ra, rb) {
					t.Fatalf("seed %d step %d: %+v: results differ after a restore:\n%+v\n%+v", seed, step, cmds, ra, rb)
				}
			}
			check(t, a)
			if step == 150 {
				snap, err := a.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b = New(Retention{MaxBytes: 40})
				if err := b.Restore(snap); err != nil {
					t.Fatalf("seed %d: restore: %v", seed, err)
				}
			}
		}
		sa, _ := a.Snapshot()
		sb, _ := b.Snapshot()
		if !bytes.Equal(sa, sb) {
			var x, y snapshot
			msgpack.Unmarshal(sa, &x)
			msgpack.Unmarshal(sb, &y)
			t.Fatalf("seed %d: the snapshots differ at the end:\n%+v\n%+v", seed, x, y)
		}
	}
}

func sameEncoding(a, b any) bool {
	ea, err1 := msgpackMarshal(a)
	eb, err2 := msgpackMarshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

// Snapshots that break the invariants are refused, and the table keeps
// what it held.
func TestRestoreRefusesBrokenSnapshots(t *testing.T) {
	tb := newTable()
	publish(t, tb, "a", sec, "x")
	good, _ := tb.Snapshot()
	for name, s := range map[string]snapshot{
		"first offset 0":      {Topics: []snapTopic{{Name: "a", First: 0}}},
		"a gap":               {Topics: []snapTopic{{Name: "a", First: 1, LastTime: 1, Events: []Event{{Offset: 1}, {Offset: 3}}}}},
		"time going back":     {Topics: []snapTopic{{Name: "a", First: 1, LastTime: 5, Events: []Event{{Offset: 1, Time: 5}, {Offset: 2, Time: 4}}}}},
		"a topic twice":       {Topics: []snapTopic{{Name: "a", First: 1}, {Name: "a", First: 1}}},
		"a group beyond":      {Topics: []snapTopic{{Name: "a", First: 1, Groups: []snapGroup{{Name: "g", Next: 5}}}}},
		"pending not handed":  {Topics: []snapTopic{{Name: "a", First: 1, Events: []Event{{Offset: 1}}, Groups: []snapGroup{{Name: "g", Next: 1, Pending: []snapDelivery{{Offset: 1}}}}}}},
		"redo out of order":   {Topics: []snapTopic{{Name: "a", First: 1, Events: []Event{{Offset: 1}, {Offset: 2}}, Groups: []snapGroup{{Name: "g", Next: 3, Redo: []snapDelivery{{Offset: 2}, {Offset: 1}}}}}}},
		"an unnamed topic":    {Topics: []snapTopic{{Name: "", First: 1}}},
		"a negative delivery": {Topics: []snapTopic{{Name: "a", First: 1, Groups: []snapGroup{{Name: "g", Next: 1, MaxDeliveries: -1}}}}},
	} {
		data, err := msgpackMarshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Restore(data); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
	if err := tb.Restore([]byte{0xc1}); err == nil {
		t.Error("restored a byte that is no msgpack")
	}
	if now, _ := tb.Snapshot(); !bytes.Equal(now, good) {
		t.Error("a refused snapshot changed the table")
	}
	if got := read(t, tb, "a", 1); !slices.Equal(got, []string{"x"}) {
		t.Errorf("after the refusals: %q", got)
	}
}
