package eventlog

import (
	"maps"
	"math"
	"slices"
)

// group is a consumer group's place in its topic: offsets below next
// were handed out at least once; pending ones are out with a member,
// redo ones are waiting to be handed out again.
type group struct {
	next          uint64
	maxDeliveries int // 0: no bound
	pending       map[uint64]*delivery
	redo          []uint64 // sorted
	deliveries    map[uint64]int
	// requests counts the pending offsets of each numbered fetch; it
	// is derived from pending (rebuilt by a restore).
	requests map[request]int
	// dueFrom is a lower bound of the pending deadlines, kept for Due
	// alone (a new or restored group starts at 0: scan once). It is
	// never part of a result or a snapshot.
	dueFrom int64
}

// delivery is an offset out with a member until deadline, handed out
// by its fetch number req (0: not numbered).
type delivery struct {
	member   string
	deadline int64
	req      uint64
}

// request is a member's numbered fetch.
type request struct {
	member string
	req    uint64
}

// out records off as out with d.
func (g *group) out(off uint64, d *delivery) {
	g.pending[off] = d
	if d.req != 0 {
		g.requests[request{d.member, d.req}]++
	}
}

// unpend removes off from the offsets out with a member.
func (g *group) unpend(off uint64) {
	d := g.pending[off]
	if d == nil {
		return
	}
	delete(g.pending, off)
	if d.req == 0 {
		return
	}
	k := request{d.member, d.req}
	if g.requests[k]--; g.requests[k] <= 0 {
		delete(g.requests, k)
	}
}

// resend answers a fetch sent again (the answer to the first was lost,
// and its member asked again): the offsets it handed out that are still
// out with its member, as they are, with nothing changed, each with
// what is left of its hold as of c.Now.
func (g *group) resend(tp *topic, c *Cmd) Result {
	var res Result
	for _, off := range slices.Sorted(maps.Keys(g.pending)) {
		if d := g.pending[off]; d.member == c.Member && d.req == c.Request {
			if e, ok := tp.event(off); ok {
				e.Deliveries, e.Left = g.deliveries[off], max(d.deadline-c.Now, 1)
				res.Events = append(res.Events, cloneEvents([]Event{e})...)
			}
		}
	}
	return res
}

// fetch hands c.Member up to c.Max offsets: those to redo first, then
// new ones.
func (tp *topic) fetch(c *Cmd) Result {
	if c.Group == "" || c.Member == "" || c.Max <= 0 || c.AckWait <= 0 || c.MaxDeliveries < 0 {
		return Result{Err: CodeBadCmd}
	}
	g := tp.groups[c.Group]
	if g == nil {
		start := tp.next
		if c.From != 0 {
			if c.From < tp.first {
				return Result{Err: CodeTruncated}
			}
			start = c.From
		}
		g = newGroup(start, c.MaxDeliveries)
		tp.groups[c.Group] = g
	}
	if c.Request != 0 && g.requests[request{c.Member, c.Request}] > 0 {
		return g.resend(tp, c)
	}
	deadline := c.Now + int64(c.AckWait)
	var res Result
	hand := func(off uint64) {
		e, ok := tp.event(off)
		if !ok {
			return
		}
		g.deliveries[off]++
		g.out(off, &delivery{member: c.Member, deadline: deadline, req: c.Request})
		g.dueFrom = min(g.dueFrom, deadline)
		e.Deliveries, e.Left = g.deliveries[off], int64(c.AckWait)
		res.Events = append(res.Events, cloneEvents([]Event{e})...)
	}
	for len(res.Events) < c.Max && len(g.redo) > 0 {
		off := g.redo[0]
		g.redo = g.redo[1:]
		hand(off)
	}
	for len(res.Events) < c.Max && g.next < tp.next {
		off := max(g.next, tp.first)
		g.next = off + 1
		hand(off)
	}
	return res
}

// settle applies an ack, a nack or an expiry to the group; first is the
// topic's first offset.
func (g *group) settle(c *Cmd, first uint64) Result {
	switch c.Op {
	case OpAck, OpNack:
		d := g.pending[c.Offset]
		if d == nil || d.member != c.Member {
			return Result{} // acked, expired or handed to another already: nothing to do
		}
		g.unpend(c.Offset)
		if c.Op == OpAck {
			delete(g.deliveries, c.Offset)
		} else {
			g.again(c.Offset)
		}
		return Result{}
	}
	var res Result
	for _, off := range slices.Sorted(maps.Keys(g.pending)) {
		if g.pending[off].deadline > c.Now {
			continue
		}
		g.unpend(off)
		if off < first || !g.again(off) {
			delete(g.deliveries, off)
			res.Dropped++
		}
	}
	return res
}

// again queues off to be handed out again, in offset order, unless it
// was handed out MaxDeliveries times already (then it reports false and
// the group is done with it).
func (g *group) again(off uint64) bool {
	if g.maxDeliveries > 0 && g.deliveries[off] >= g.maxDeliveries {
		delete(g.deliveries, off)
		return false
	}
	i, found := slices.BinarySearch(g.redo, off)
	if !found {
		g.redo = slices.Insert(g.redo, i, off)
	}
	return true
}

// forget drops what the group holds of offsets before first (removed by
// retention) and moves its position up to first.
func (g *group) forget(from, first uint64) {
	g.next = max(g.next, first)
	if i, _ := slices.BinarySearch(g.redo, first); i > 0 {
		g.redo = slices.Clone(g.redo[i:])
	}
	forgetBelow(g.pending, from, first, g.unpend)
	forgetBelow(g.deliveries, from, first, func(off uint64) { delete(g.deliveries, off) })
}

// newGroup returns a group that starts at next.
func newGroup(next uint64, maxDeliveries int) *group {
	return &group{next: next, maxDeliveries: maxDeliveries, pending: map[uint64]*delivery{}, deliveries: map[uint64]int{}, requests: map[request]int{}}
}

// forgetBelow calls del for the keys of m from from to first-1 (m holds
// none below from): one by one when they are fewer than m's keys, so
// that dropping an event per publish costs little, else by a walk of m.
func forgetBelow[V any](m map[uint64]V, from, first uint64, del func(uint64)) {
	if first-from <= uint64(len(m)) {
		for off := from; off < first; off++ {
			del(off)
		}
		return
	}
	for off := range m {
		if off < first {
			del(off)
		}
	}
}

// GroupInfo is a consumer group's state: its position (offsets before
// Next were handed out at least once), the offsets out with members and
// those waiting to be handed out again.
type GroupInfo struct {
	Next    uint64
	Pending map[uint64]string // offset: the member that holds it
	Redo    []uint64
}

// Group returns the state of group on topic; ok is false if there is no
// such group.
func (t *Table) Group(topicName, name string) (GroupInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[topicName]
	if tp == nil || tp.groups[name] == nil {
		return GroupInfo{}, false
	}
	g := tp.groups[name]
	gi := GroupInfo{Next: g.next, Pending: map[uint64]string{}, Redo: slices.Clone(g.redo)}
	for off, d := range g.pending {
		gi.Pending[off] = d.member
	}
	return gi, true
}

// Due returns the commands that are due at now (ns of the leader's
// cluster time): an OpExpire for each group with a delivery whose
// deadline passed, and an OpTrim for each topic with events older than
// its MaxAge. The voters' leader proposes them.
func (t *Table) Due(now int64) []Cmd {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Cmd
	for _, name := range slices.Sorted(maps.Keys(t.topics)) {
		tp := t.topics[name]
		if tp.ret.MaxAge > 0 && len(tp.events) > 0 && tp.events[0].Time < now-int64(tp.ret.MaxAge) {
			out = append(out, Cmd{Op: OpTrim, Topic: name, Now: now})
		}
		for _, gname := range slices.Sorted(maps.Keys(tp.groups)) {
			if g := tp.groups[gname]; g.due(now) {
				out = append(out, Cmd{Op: OpExpire, Topic: name, Group: gname, Now: now})
			}
		}
	}
	return out
}

// due tells whether a pending deadline of g has passed at now. The
// leader asks on every step, so it walks the pending offsets only when
// the lower bound dueFrom says one may have, and then raises the bound
// to the earliest deadline it saw.
func (g *group) due(now int64) bool {
	if g.dueFrom > now {
		return false
	}
	earliest := int64(math.MaxInt64)
	for _, d := range g.pending {
		earliest = min(earliest, d.deadline)
	}
	g.dueFrom = earliest
	return earliest <= now
}
