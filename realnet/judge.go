package realnet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// Window is a span of time in which a fault held.
type Window struct {
	What     string
	From, To time.Time
}

// Faults is what the suite did to the processes, for the judge.
type Faults struct {
	Killed map[int]time.Time // pid -> when it was sent SIGKILL, or exited
	Paused map[int][]Window  // pid -> its SIGSTOP..SIGCONT spans
	// NoMajority lists the spans in which no side of the network held a
	// majority of the nodes (or the majority's side was being formed):
	// gaps in grants there are expected.
	NoMajority []Window
}

// Locks turns the processes' events into the simulation's lock history,
// so that check.CheckLocks judges real processes by the same rules. A
// grant that its process never ended ends when the process was killed;
// one of a process still running at end is open. A grant during which
// its process was stopped ends when the stop began (a stopped process
// does nothing; the simulation's paused nodes stop their network, not
// their timers, so their leases end on time), and L3 judges the rest
// like any grant; its second write, after the stop, is a late write:
// refused, accepted although the store had accepted a newer token
// before (a fencing failure), or harmless.
func Locks(evs []Event, f Faults, begin, end time.Time) check.LockHistory {
	type key struct {
		pid   int
		id    string
		token uint64
	}
	h := check.LockHistory{Begin: begin, End: end, Errors: map[string]int{}}
	idx := map[key]int{}
	writes := map[key]int{}
	type lateWrite struct {
		id    string
		token uint64
		at    time.Time
		stale bool
		ok    bool
	}
	var late []lateWrite
	for _, e := range evs {
		k := key{e.PID, e.ID, e.Token}
		switch e.T {
		case "grant":
			idx[k] = len(h.Grants)
			h.Grants = append(h.Grants, check.Grant{ID: e.ID, Token: e.Token,
				Node: fmt.Sprintf("%s/%d", e.Node, e.PID), Called: e.Called, Start: e.At})
		case "end":
			if i, ok := idx[k]; ok {
				h.Grants[i].End, h.Grants[i].Released = e.At, e.OK
			}
		case "write":
			i, ok := idx[k]
			if !ok {
				continue
			}
			writes[k]++
			g := &h.Grants[i]
			stale := strings.HasPrefix(e.Err, "stale")
			if writes[k] == 1 {
				g.Stale = stale
				continue
			}
			if _, ok := stoppedDuring(f.Paused[e.PID], g.Start, e.At); ok {
				late = append(late, lateWrite{id: e.ID, token: e.Token, at: e.At, stale: stale, ok: e.OK})
			}
		case "err":
			kind, _, _ := strings.Cut(e.Err, ":")
			h.Errors[kind]++
		}
	}
	for i := range h.Grants {
		g := &h.Grants[i]
		pid := pidOf(g.Node)
		if g.End.IsZero() {
			if t, ok := f.Killed[pid]; ok {
				g.End = t
			}
		}
		// A stopped process does nothing: its use of the lock ended
		// when it was stopped. What it does once it runs again (the
		// late write) is the store's to judge. The grant then covers
		// only time it ran, so L3 judges it like any other.
		if from, ok := stoppedDuring(f.Paused[pid], g.Start, cmp.Or(g.End, end)); ok {
			g.End, g.Released = from, false
		}
	}
	slices.SortFunc(h.Grants, func(a, b check.Grant) int { return a.Start.Compare(b.Start) })
	for _, w := range late {
		// Fencing can refuse a stale token only once the resource has
		// seen a newer one: a newer holder's write accepted before.
		newer := slices.ContainsFunc(evs, func(e Event) bool {
			return e.T == "accept" && e.ID == w.id && e.Token > w.token && e.At.Before(w.at)
		})
		switch {
		case w.stale:
			h.Late.Rejected++
		case w.ok && newer:
			h.Late.Accepted++ // a fencing failure (check.LockVerdict.OK counts it)
		case w.ok:
			h.Late.Harmless++
		}
	}
	return h
}

func pidOf(node string) int {
	var pid int
	fmt.Sscanf(node[strings.LastIndexByte(node, '/')+1:], "%d", &pid)
	return pid
}

// stoppedDuring returns the start of the first stop of ws that began
// within (from, to).
func stoppedDuring(ws []Window, from, to time.Time) (time.Time, bool) {
	for _, w := range ws {
		if w.From.After(from) && w.From.Before(to) {
			return w.From, true
		}
	}
	return time.Time{}, false
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Leases turns the nodes' leads into the simulation's election records:
// a lead its process never ended ends when the process was killed, or
// is open; one that overlaps a pause of its process ends when the pause
// began (a stopped leader does nothing).
func Leases(evs []Event, f Faults) []check.LeaseRecord {
	type key struct {
		pid  int
		term uint64
	}
	idx := map[key]int{}
	var ls []check.LeaseRecord
	pids := map[int]int{} // lease index -> pid
	for _, e := range evs {
		k := key{e.PID, e.Token}
		switch e.T {
		case "lead":
			idx[k] = len(ls)
			pids[len(ls)] = e.PID
			ls = append(ls, check.LeaseRecord{Group: "realnet", Node: e.Node, ID: fmt.Sprint(e.PID), Term: e.Token, Start: e.At})
		case "unlead":
			if i, ok := idx[k]; ok {
				ls[i].End = e.At
			}
		}
	}
	for i := range ls {
		l, pid := &ls[i], pids[i]
		if t, ok := f.Killed[pid]; ok && l.End.IsZero() {
			l.End = t
		}
		if from, ok := stoppedDuring(f.Paused[pid], l.Start, cmp.Or(l.End, farFuture)); ok {
			l.End = from
		}
	}
	return ls
}

// Gap is the longest span without a grant starting, and where it began.
type Gap struct {
	From time.Time
	Len  time.Duration
	// InNoMajority: the gap lies within a span without a majority, where
	// it is expected.
	InNoMajority bool
}

// LongestGap returns the longest span between begin, grant starts and end.
func LongestGap(h check.LockHistory, f Faults) Gap {
	starts := []time.Time{h.Begin}
	for _, g := range h.Grants {
		starts = append(starts, g.Start)
	}
	starts = append(starts, h.End)
	slices.SortFunc(starts, time.Time.Compare)
	var gap Gap
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d > gap.Len {
			gap = Gap{From: starts[i-1], Len: d}
		}
	}
	for _, w := range f.NoMajority {
		// The gap begins at the last grant before the cut: up to a
		// second before the window.
		if !gap.From.Before(w.From.Add(-time.Second)) && !gap.From.Add(gap.Len).After(w.To) {
			gap.InNoMajority = true
		}
	}
	return gap
}

// Avail is the lock availability within the windows of one fault kind.
type Avail struct {
	What       string
	Windows    int
	Span       time.Duration // the windows' total length
	PerSecond  float64       // grants started within them, per second
	LongestGap time.Duration // the longest span within one without a grant starting
	// Handovers counts the grants within them that followed a Release
	// while their Acquire waited; Handover is the median time from the
	// Release to the grant.
	Handovers int
	Handover  time.Duration
}

// Availability returns, per fault kind (in the order first seen), the
// grants per second, the longest gap without a grant and the median
// handover within its windows.
func Availability(h check.LockHistory, ws []Window) []Avail {
	var out []Avail
	at := map[string]int{}
	hs := map[int][]time.Duration{}
	for _, w := range ws {
		i, ok := at[w.What]
		if !ok {
			i = len(out)
			at[w.What] = i
			out = append(out, Avail{What: w.What})
		}
		a := &out[i]
		a.Windows++
		a.Span += w.To.Sub(w.From)
		last := w.From
		n := 0
		for _, g := range h.Grants { // in Start order
			if g.Start.Before(w.From) || g.Start.After(w.To) {
				continue
			}
			n++
			a.LongestGap = max(a.LongestGap, g.Start.Sub(last))
			last = g.Start
		}
		a.LongestGap = max(a.LongestGap, w.To.Sub(last))
		a.PerSecond += float64(n) // divided by the span below
		hs[i] = append(hs[i], check.Handovers(h.Grants, func(g check.Grant) bool {
			return !g.Start.Before(w.From) && !g.Start.After(w.To)
		})...)
	}
	for i := range out {
		out[i].Handovers, out[i].Handover = len(hs[i]), check.Percentile(hs[i], 50)
		if s := out[i].Span.Seconds(); s > 0 {
			out[i].PerSecond /= s
		}
	}
	return out
}
