package chaos

import (
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// The -html timeline: what the page draws besides the report's phases and
// leases. The clocks and the tasks in flight are kept per bucket of Step,
// so that the page stays small for large and long runs.
const (
	maxBuckets = 400              // per node, over the whole time axis
	minStep    = 2 * observeEvery // so that most buckets hold a reading of each clock
)

// timeline is the lock holds, the tasks in flight and the clocks of a run
// on one time axis: time.Duration values are from Start, the start of the
// schedule.
type timeline struct {
	Start  time.Time     // of the schedule: 0 on the axis
	Begin  time.Duration // the axis starts here (≤ 0): when the workloads started
	End    time.Duration // and ends here: when the run ended
	Healed time.Duration // the final heal; 0 if unknown
	Nodes  []string      // every node, in order
	Grants []check.Grant // the lock workload's grants
	Step   time.Duration // of the buckets below; bucket i starts at Begin + i*Step
	Load   []nodeLoad    // per node, in the order of Nodes
	Clocks []nodeClock   // per node, in the order of Nodes
	Events eventTimeline // the event workload
}

// nodeLoad is one node's tasks in flight.
type nodeLoad struct {
	Node string
	Max  []int // the most Runs executing on the node at once, per bucket
}

// nodeClock is one node's clock readings, per bucket.
type nodeClock struct {
	Node    string
	Buckets []clockBucket
}

// clockBucket sums up a node's readings in one bucket.
type clockBucket struct {
	N     int              // readings; 0: none (the node was down)
	State check.ClockState // the best of the readings' states (judged first)
	Error time.Duration    // judged: the error of the largest magnitude
	// Lo and Hi span Error ± Uncertainty over the judged readings (±
	// Uncertainty for the reference's own): the interval of times the
	// node allowed for, relative to the reference's.
	Lo, Hi time.Duration
}

// add counts p in b.
func (b *clockBucket) add(p check.ClockPoint) {
	judged := p.State == check.ClockJudged || p.State == check.ClockReference
	first := b.N == 0 || !(b.State == check.ClockJudged || b.State == check.ClockReference)
	b.N++
	if judged {
		lo, hi := p.Error-p.Uncertainty, p.Error+p.Uncertainty
		if first {
			b.Lo, b.Hi = lo, hi
		}
		b.Lo, b.Hi = min(b.Lo, lo), max(b.Hi, hi)
	}
	if p.State == check.ClockJudged && (b.State != check.ClockJudged || absDur(p.Error) > absDur(b.Error)) {
		b.Error = p.Error
	}
	if b.N == 1 || p.State > b.State {
		b.State = p.State
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// timeline collects the run's timeline once the workloads have stopped.
func (r *runner) timeline(leases []check.LeaseRecord) timeline {
	points := r.observer.series()
	tl := newTimeline(r.start, time.Now(), r.healed, r.c.Names(), leases, r.locks.History().Grants, r.tasks.History().Executions, points)
	tl.Events = eventBuckets(tl, tl.buckets(), r.events.History())
	return tl
}

// newTimeline builds the timeline of a run whose schedule started at
// start and which ended at end. The axis begins with the earliest record,
// at most startWait before start.
func newTimeline(start, end, healed time.Time, names []string, leases []check.LeaseRecord, grants []check.Grant, execs []check.Execution, points []check.ClockPoint) timeline {
	first := start
	nodes := slices.Clone(names)
	saw := func(t time.Time, node string) {
		if !t.IsZero() && t.Before(first) {
			first = t
		}
		if !slices.Contains(nodes, node) {
			nodes = append(nodes, node)
		}
	}
	for _, l := range leases {
		saw(l.Start, l.Node)
	}
	for _, g := range grants {
		saw(g.Start, g.Node)
	}
	for _, e := range execs {
		saw(e.Start, e.Node)
	}
	for _, p := range points {
		saw(p.At, p.Node)
	}
	slices.SortFunc(nodes, compareNames)
	tl := timeline{Start: start, Begin: max(first.Sub(start), -startWait), End: max(end.Sub(start), 0), Nodes: nodes, Grants: grants}
	if !healed.IsZero() {
		tl.Healed = healed.Sub(start)
	}
	span := tl.End - tl.Begin
	tl.Step = max(minStep, (span/maxBuckets).Round(10*time.Millisecond)+10*time.Millisecond)
	n := tl.buckets()
	tl.Load = taskLoad(tl, n, execs)
	tl.Clocks = clockBuckets(tl, n, points)
	return tl
}

// buckets returns how many buckets of Step the axis spans.
func (tl timeline) buckets() int {
	return int((tl.End-tl.Begin)/tl.Step) + 1
}

// bucket returns the bucket of t, within [0, n).
func (tl timeline) bucket(t time.Time, n int) int {
	i := int((t.Sub(tl.Start) - tl.Begin) / tl.Step)
	return min(max(i, 0), n-1)
}

// taskLoad returns, per node, the most executions in flight in each of n
// buckets.
func taskLoad(tl timeline, n int, execs []check.Execution) []nodeLoad {
	type event struct {
		at    time.Time
		delta int
	}
	events := map[string][]event{}
	for _, e := range execs {
		events[e.Node] = append(events[e.Node], event{e.Start, 1})
		if !e.End.IsZero() {
			events[e.Node] = append(events[e.Node], event{e.End, -1})
		}
	}
	out := make([]nodeLoad, len(tl.Nodes))
	for k, node := range tl.Nodes {
		ev := events[node]
		slices.SortFunc(ev, func(a, b event) int { // ends first at a tie
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return a.delta - b.delta
		})
		max1 := make([]int, n)
		cur, j := 0, 0
		for i := range max1 {
			most := cur
			for j < len(ev) && tl.bucket(ev[j].at, n) <= i {
				cur += ev[j].delta
				most = max(most, cur)
				j++
			}
			max1[i] = most
		}
		out[k] = nodeLoad{Node: node, Max: max1}
	}
	return out
}

// clockBuckets sums up, per node, the clock readings in each of n buckets.
func clockBuckets(tl timeline, n int, points []check.ClockPoint) []nodeClock {
	out := make([]nodeClock, len(tl.Nodes))
	index := map[string]int{}
	for k, node := range tl.Nodes {
		out[k] = nodeClock{Node: node, Buckets: make([]clockBucket, n)}
		index[node] = k
	}
	for _, p := range points {
		out[index[p.Node]].Buckets[tl.bucket(p.At, n)].add(p)
	}
	// The observer's ticks jitter around the buckets' edges, and a slow
	// round of reading skips a tick: a bucket no reading fell in, between
	// two that readings did, takes the summary of the one before.
	for _, nc := range out {
		b := nc.Buckets
		for i := 1; i+1 < len(b); i++ {
			if b[i].N == 0 && b[i-1].N > 0 && b[i+1].N > 0 {
				b[i] = b[i-1]
			}
		}
	}
	return out
}
