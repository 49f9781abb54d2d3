package realnet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// The kinds of fault the suite makes (and Replay makes in the
// simulation); each names its windows in the availability figures.
const (
	Kill       = "kill -9"           // SIGKILL, restart under the same name after For
	Stop       = "SIGSTOP"           // SIGSTOP for For (longer than the lease), then SIGCONT
	Majority   = "majority/minority" // Groups: a majority and a minority, for For
	Isolated   = "one isolated"      // Groups: all but Node, and Node
	NoMajority = "no majority"       // Groups: 2, 2 and 1 nodes
	Rolling    = "rolling restart"   // each node in turn stops gracefully and starts, For apart
	OneWay     = "one-way cut"       // Groups[0] cannot send to Groups[1], for For
	Loss       = "loss"              // every packet lost with probability P, for For
	Delay      = "delay and reorder" // every packet delayed 5-60 ms, for For
)

// The span the delays of Delay are drawn from: packets of one flow sent
// closer together than the span arrive reordered.
const (
	MinDelay = 5 * time.Millisecond
	MaxDelay = 60 * time.Millisecond
)

// Fault is one fault of the schedule.
type Fault struct {
	Kind   string
	At     time.Duration // when it began, since the schedule began (set by whoever makes it)
	For    time.Duration
	Node   string
	Groups [][]string
	P      float64
}

func (f Fault) String() string {
	switch f.Kind {
	case Kill:
		return fmt.Sprintf("kill -9 %s, restart after %v", f.Node, f.For)
	case Stop:
		return fmt.Sprintf("SIGSTOP %s for %v", f.Node, f.For)
	case Rolling:
		return fmt.Sprintf("rolling restart of every node (SIGTERM, start, %v apart)", f.For)
	case OneWay:
		return fmt.Sprintf("one-way cut, %v cannot send to %v, for %v", f.Groups[0], f.Groups[1], f.For)
	case Loss:
		return fmt.Sprintf("loss of %.0f %% of every packet for %v", 100*f.P, f.For)
	case Delay:
		return fmt.Sprintf("every packet delayed %v-%v (reordered) for %v", MinDelay, MaxDelay, f.For)
	}
	return fmt.Sprintf("partition %v (%s) for %v", f.Groups, f.Kind, f.For)
}

// Schedule draws the faults of a run from a seeded generator: each of
// the nine kinds once, in a random order, before any repeats, so a run
// long enough for nine faults (about 90 s) makes every kind.
type Schedule struct {
	r     *rand.Rand
	nodes []string
	left  []int // kinds not drawn yet in this round
}

// NewSchedule returns a Schedule over nodes (at least 5) drawn from r.
func NewSchedule(r *rand.Rand, nodes []string) *Schedule {
	return &Schedule{r: r, nodes: nodes}
}

// Next draws the next fault.
func (s *Schedule) Next() Fault {
	if len(s.left) == 0 {
		s.left = s.r.Perm(9)
	}
	kind := s.left[0]
	s.left = s.left[1:]
	return draw(s.r, s.nodes, kind)
}

// draw draws a fault of the given kind (0-8) among nodes.
func draw(r *rand.Rand, nodes []string, kind int) Fault {
	n := nodes[r.IntN(len(nodes))]
	perm := r.Perm(len(nodes))
	side := func(from, to int) []string { // nodes perm[from:to]
		var g []string
		for _, j := range perm[from:to] {
			g = append(g, nodes[j])
		}
		return g
	}
	others := slices.DeleteFunc(slices.Clone(nodes), func(m string) bool { return m == n })
	ms := func(lo, spread int) time.Duration { return time.Duration(lo+r.IntN(spread)) * time.Millisecond }
	switch kind {
	case 0:
		return Fault{Kind: Kill, Node: n, For: ms(200, 1800)}
	case 1:
		return Fault{Kind: Stop, Node: n, For: ms(1500, 1500)} // the lease is 1 s
	case 2:
		return Fault{Kind: Majority, Groups: [][]string{side(0, 3), side(3, 5)}, For: ms(3000, 3000)}
	case 3:
		return Fault{Kind: Isolated, Node: n, Groups: [][]string{others, {n}}, For: ms(3000, 3000)}
	case 4:
		return Fault{Kind: NoMajority, Groups: [][]string{side(0, 2), side(2, 4), side(4, 5)}, For: ms(3000, 3000)}
	case 5:
		return Fault{Kind: Rolling, For: 2 * time.Second}
	case 6:
		g := [][]string{{n}, others}
		if r.IntN(2) == 0 {
			g[0], g[1] = g[1], g[0]
		}
		return Fault{Kind: OneWay, Node: n, Groups: g, For: ms(3000, 5000)}
	case 7:
		return Fault{Kind: Loss, P: 0.1 + 0.2*r.Float64(), For: ms(3000, 5000)}
	default:
		return Fault{Kind: Delay, For: ms(3000, 5000)}
	}
}
