package eventlog

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/internal/wire"
)

type snapshot struct {
	Topics []snapTopic `msgpack:"t,omitempty"`
}

type snapTopic struct {
	Name     string      `msgpack:"n"`
	First    uint64      `msgpack:"f"`
	LastTime int64       `msgpack:"l"`
	Ret      Retention   `msgpack:"r"`
	Events   []Event     `msgpack:"e,omitempty"`
	Groups   []snapGroup `msgpack:"g,omitempty"`
}

type snapGroup struct {
	Name          string         `msgpack:"n"`
	Next          uint64         `msgpack:"x"`
	MaxDeliveries int            `msgpack:"m,omitempty"`
	Pending       []snapDelivery `msgpack:"p,omitempty"` // in offset order
	Redo          []snapDelivery `msgpack:"r,omitempty"` // in offset order; no member nor deadline
}

// snapDelivery is an offset of a group that is out with a member or
// waiting to go out again, and how often it went out.
type snapDelivery struct {
	Offset     uint64 `msgpack:"o"`
	Member     string `msgpack:"m,omitempty"`
	Deadline   int64  `msgpack:"d,omitempty"`
	Deliveries int    `msgpack:"c,omitempty"`
	Request    uint64 `msgpack:"q,omitempty"` // the fetch that handed it out
}

// Snapshot encodes the table: every topic, event and group, in name
// order, with map keys sorted, so that equal tables encode alike.
func (t *Table) Snapshot() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s snapshot
	size := 64
	for _, name := range slices.Sorted(maps.Keys(t.topics)) {
		tp := t.topics[name]
		size += int(tp.bytes) + 32*len(tp.events) + 64*len(tp.groups)
		st := snapTopic{Name: name, First: tp.first, LastTime: tp.lastTime, Ret: tp.ret, Events: tp.events}
		for _, gname := range slices.Sorted(maps.Keys(tp.groups)) {
			g := tp.groups[gname]
			sg := snapGroup{Name: gname, Next: g.next, MaxDeliveries: g.maxDeliveries}
			for _, off := range slices.Sorted(maps.Keys(g.pending)) {
				d := g.pending[off]
				sg.Pending = append(sg.Pending, snapDelivery{Offset: off, Member: d.member, Deadline: d.deadline, Deliveries: g.deliveries[off], Request: d.req})
			}
			for _, off := range g.redo {
				sg.Redo = append(sg.Redo, snapDelivery{Offset: off, Deliveries: g.deliveries[off]})
			}
			st.Groups = append(st.Groups, sg)
		}
		s.Topics = append(s.Topics, st)
	}
	var buf bytes.Buffer
	buf.Grow(size) // about what it needs: growing a large buffer step by step costs more than encoding
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // one table, one encoding
	if err := enc.Encode(&s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Reset empties the table.
func (t *Table) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.topics = map[string]*topic{}
	t.wakeLocked()
}

// wakeLocked closes and replaces the Appended channel.
func (t *Table) wakeLocked() {
	close(t.appended)
	t.appended = make(chan struct{})
}

// Restore replaces the table with a snapshot. A snapshot that breaks
// the table's invariants (offsets not consecutive, times going back, a
// group beyond its topic) is refused, and the table is left as it was.
func (t *Table) Restore(data []byte) error {
	var s snapshot
	// wire.Check first: msgpack would make each slice as long as it
	// declares. A decoder of its own: msgpack.Unmarshal's pooled decoder
	// keeps a buffer grown by every failed read of a long string.
	if err := wire.Check(data); err != nil {
		return fmt.Errorf("eventlog: restore: %w", err)
	}
	if err := msgpack.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return fmt.Errorf("eventlog: restore: %w", err)
	}
	topics := make(map[string]*topic, len(s.Topics))
	for _, st := range s.Topics {
		tp, err := restoreTopic(st)
		if err != nil {
			return fmt.Errorf("eventlog: restore: topic %q: %w", st.Name, err)
		}
		if st.Name == "" || topics[st.Name] != nil {
			return fmt.Errorf("eventlog: restore: topic %q empty or twice", st.Name)
		}
		topics[st.Name] = tp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.topics = topics
	t.lastNow = 0
	for _, tp := range topics {
		t.lastNow = max(t.lastNow, tp.lastTime)
	}
	t.wakeLocked()
	return nil
}

func restoreTopic(st snapTopic) (*topic, error) {
	if st.First == 0 {
		return nil, fmt.Errorf("first offset 0")
	}
	if st.Ret.MaxBytes <= 0 || st.Ret.MaxAge < 0 {
		return nil, fmt.Errorf("retention %+v: every topic is bounded", st.Ret)
	}
	tp := &topic{first: st.First, next: st.First, lastTime: st.LastTime, ret: st.Ret, keys: map[string]uint64{}, groups: map[string]*group{}}
	for i, e := range st.Events {
		switch {
		case e.Offset != tp.next:
			return nil, fmt.Errorf("event %d has offset %d, want %d", i, e.Offset, tp.next)
		case e.Time > st.LastTime || i > 0 && e.Time < st.Events[i-1].Time:
			return nil, fmt.Errorf("event at offset %d: times not in order", e.Offset)
		}
		tp.next++
		tp.bytes += e.size()
		if e.Key != "" {
			tp.keys[e.Key] = e.Offset
		}
	}
	tp.events = st.Events
	for _, sg := range st.Groups {
		if sg.Name == "" || tp.groups[sg.Name] != nil || sg.Next > tp.next || sg.MaxDeliveries < 0 {
			return nil, fmt.Errorf("group %q: empty, twice, or beyond the topic", sg.Name)
		}
		g := newGroup(max(sg.Next, tp.first), sg.MaxDeliveries)
		for i, d := range sg.Redo {
			if d.Offset >= g.next || i > 0 && d.Offset <= sg.Redo[i-1].Offset {
				return nil, fmt.Errorf("group %q: offsets to redo not in order or not handed out", sg.Name)
			}
			g.redo = append(g.redo, d.Offset)
			g.deliveries[d.Offset] = d.Deliveries
		}
		for _, d := range sg.Pending {
			_, redo := g.deliveries[d.Offset]
			if d.Offset >= g.next || redo || g.pending[d.Offset] != nil {
				return nil, fmt.Errorf("group %q: offset %d pending but not handed out, twice, or also to redo", sg.Name, d.Offset)
			}
			g.out(d.Offset, &delivery{member: d.Member, deadline: d.Deadline, req: d.Request})
			g.deliveries[d.Offset] = d.Deliveries
		}
		g.forget(0, tp.first) // a snapshot's group may name anything
		tp.groups[sg.Name] = g
	}
	return tp, nil
}
