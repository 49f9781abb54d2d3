package eventlog

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Retention bounds what a topic keeps: events no older than MaxAge (0:
// any age) and at most MaxBytes of them (payloads, keys and metadata).
type Retention struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Table is the replicated event log of a voter group: topics of events,
// their retention and their consumer groups. Apply is deterministic; it
// reads no clock. Safe for concurrent use.
type Table struct {
	mu       sync.Mutex
	defaults Retention
	topics   map[string]*topic
	appended chan struct{} // closed (and replaced) when a publish appends
	// lastNow is the latest Now of the commands applied (after a
	// restore, the latest event time): a hint for the leader that
	// stamps the next ones (LastNow), never read by Apply.
	lastNow int64
}

// topic is one topic's events, from offset first to next-1.
type topic struct {
	first, next uint64  // the offsets held are [first, next); first >= 1
	events      []Event // events[i] has offset first+i
	bytes       int64
	lastTime    int64
	ret         Retention
	keys        map[string]uint64 // idempotency keys of the events held
	groups      map[string]*group
}

// New returns an empty table whose new topics keep what defaults says
// (MaxBytes must be positive: every topic is bounded).
func New(defaults Retention) *Table {
	return &Table{defaults: defaults, topics: map[string]*topic{}, appended: make(chan struct{})}
}

// Apply applies a batch of commands in order and returns one result
// each.
func (t *Table) Apply(cmds []Cmd) []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Result, len(cmds))
	appended := false
	for i := range cmds {
		t.lastNow = max(t.lastNow, cmds[i].Now)
		out[i] = t.applyLocked(&cmds[i])
		appended = appended || cmds[i].Op == OpPublish && out[i].Err == CodeOK
	}
	if appended {
		t.wakeLocked()
	}
	return out
}

// LastNow returns the latest time a command applied was stamped with
// (after a restore, the latest event time held): a new leader stamps no
// earlier.
func (t *Table) LastNow() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastNow
}

// Appended returns a channel that closes when a publish next appends to
// any topic (or a restore replaces the table): a reader with nothing new
// to read waits on it.
func (t *Table) Appended() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.appended
}

func (t *Table) applyLocked(c *Cmd) Result {
	if c.Topic == "" {
		return Result{Err: CodeBadCmd}
	}
	switch c.Op {
	case OpPublish:
		return t.topicLocked(c.Topic).publish(c)
	case OpFetch: // a group may start on a topic before its first event
		return t.topicLocked(c.Topic).fetch(c)
	case OpConfigure:
		if c.MaxAge < 0 || c.MaxBytes < 0 {
			return Result{Err: CodeBadCmd}
		}
		tp := t.topicLocked(c.Topic)
		tp.ret.MaxAge = cmpOr(c.MaxAge, tp.ret.MaxAge)
		tp.ret.MaxBytes = cmpOr(c.MaxBytes, tp.ret.MaxBytes)
		return Result{Dropped: tp.fit()}
	case OpPosition:
		next := uint64(1)
		if tp := t.topics[c.Topic]; tp != nil {
			next = tp.next
		}
		return Result{Offsets: []uint64{next}}
	case OpDelete:
		tp := t.topics[c.Topic]
		switch {
		case tp == nil:
			return Result{Err: CodeNoTopic}
		case c.Group != "":
			delete(tp.groups, c.Group)
		default:
			delete(t.topics, c.Topic)
		}
		return Result{}
	}
	tp := t.topics[c.Topic]
	if tp == nil {
		return Result{Err: CodeNoTopic}
	}
	switch c.Op {
	case OpTrim:
		return Result{Dropped: tp.trimAge(c.Now)}
	case OpAck, OpNack, OpExpire:
		g := tp.groups[c.Group]
		if g == nil {
			return Result{Err: CodeNoTopic}
		}
		return g.settle(c, tp.first)
	}
	return Result{Err: CodeBadCmd}
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// topicLocked returns the topic named name, creating it empty.
func (t *Table) topicLocked(name string) *topic {
	tp := t.topics[name]
	if tp == nil {
		tp = &topic{first: 1, next: 1, ret: t.defaults, keys: map[string]uint64{}, groups: map[string]*group{}}
		t.topics[name] = tp
	}
	return tp
}

func (tp *topic) publish(c *Cmd) Result {
	if len(c.Events) == 0 {
		return Result{Err: CodeBadCmd}
	}
	res := Result{Offsets: make([]uint64, len(c.Events)), Times: make([]int64, len(c.Events))}
	for i := range c.Events {
		e := c.Events[i]
		if off, ok := tp.keys[e.Key]; ok && e.Key != "" {
			res.Offsets[i] = off
			if held, ok := tp.event(off); ok {
				res.Times[i] = held.Time
			}
			continue
		}
		e.Offset, e.Deliveries = tp.next, 0
		e.Time = max(cmpOr(e.Time, c.Now), tp.lastTime)
		tp.lastTime = e.Time
		tp.next++
		tp.events = append(tp.events, e)
		tp.bytes += e.size()
		if e.Key != "" {
			tp.keys[e.Key] = e.Offset
		}
		res.Offsets[i], res.Times[i] = e.Offset, e.Time
	}
	tp.fit()
	return res
}

// fit removes the oldest events while the topic holds more than its
// MaxBytes, keeping at least the newest, and returns how many it
// removed.
func (tp *topic) fit() int {
	n := 0
	for tp.ret.MaxBytes > 0 && tp.bytes > tp.ret.MaxBytes && n < len(tp.events)-1 {
		tp.bytes -= tp.events[n].size()
		n++
	}
	tp.drop(n)
	return n
}

// trimAge removes the events older than now-MaxAge and returns how many.
func (tp *topic) trimAge(now int64) int {
	if tp.ret.MaxAge <= 0 {
		return 0
	}
	cut := now - int64(tp.ret.MaxAge)
	n := sort.Search(len(tp.events), func(i int) bool { return tp.events[i].Time >= cut })
	for _, e := range tp.events[:n] {
		tp.bytes -= e.size()
	}
	tp.drop(n)
	return n
}

// drop removes the first n events (their bytes already uncounted) and
// what the groups and keys hold of them.
func (tp *topic) drop(n int) {
	if n == 0 {
		return
	}
	for _, e := range tp.events[:n] {
		if e.Key != "" && tp.keys[e.Key] == e.Offset {
			delete(tp.keys, e.Key)
		}
	}
	// Cleared, so that the removed events' payloads go at once; the
	// array itself goes when an append outgrows what is left of it, so
	// a topic at its bound drops an event per publish at a constant cost.
	clear(tp.events[:n])
	tp.events = tp.events[n:]
	from := tp.first
	tp.first += uint64(n)
	for _, g := range tp.groups {
		g.forget(from, tp.first)
	}
}

// event returns the event at off, if the topic holds it.
func (tp *topic) event(off uint64) (Event, bool) {
	if off < tp.first || off >= tp.next {
		return Event{}, false
	}
	return tp.events[off-tp.first], true
}

// Info is what a topic holds: offsets [First, Next).
type Info struct {
	First, Next uint64
	Bytes       int64
	Retention   Retention
}

// Info returns what topic holds; ok is false for a topic that does not
// exist.
func (t *Table) Info(name string) (Info, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[name]
	if tp == nil {
		return Info{}, false
	}
	return Info{First: tp.first, Next: tp.next, Bytes: tp.bytes, Retention: tp.ret}, true
}

// Read returns up to max events of topic from offset from on, and the
// topic's next offset. A topic that does not exist has nothing yet (next
// 1); from before the topic's first event is ErrTruncated.
func (t *Table) Read(name string, from uint64, max int) ([]Event, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[name]
	if tp == nil {
		return nil, 1, nil
	}
	if from < tp.first {
		return nil, tp.next, ErrTruncated
	}
	if from >= tp.next || max <= 0 {
		return nil, tp.next, nil
	}
	i := int(from - tp.first)
	return cloneEvents(tp.events[i:min(len(tp.events), i+max)]), tp.next, nil
}

// Seek returns the offset of topic's first event with a time at or
// after at (the next offset if none is); ok is false for a topic that
// does not exist.
func (t *Table) Seek(name string, at int64) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.topics[name]
	if tp == nil {
		return 0, false
	}
	i := sort.Search(len(tp.events), func(i int) bool { return tp.events[i].Time >= at })
	return tp.first + uint64(i), true
}

// cloneEvents copies es, so that a reader holds nothing of the table's.
func cloneEvents(es []Event) []Event {
	out := slices.Clone(es)
	for i := range out {
		out[i].Metadata = cloneMap(out[i].Metadata)
		out[i].Payload = slices.Clone(out[i].Payload)
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
