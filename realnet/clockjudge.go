package realnet

import (
	"fmt"
	"slices"
	"time"
)

// ClockVerdict judges the nodes' clock readings by C1-C3 of package
// clock. On one machine every process's physical clock is the same
// clock, so the truth is known: cluster time in reference term X is
// the machine's time plus the offset that term's reference reported
// for itself (its Stats.Offset: a first reference serves its physical
// clock, a later one the time it was tracking). A reading taken
// between At and Done on a bound that rests on term X must contain
// some time of [At, Done] moved by that offset (C1); Now never goes
// backwards in one process (C2); two readings of different processes
// on one term, taken within 100 ms of each other, agree within their
// uncertainties once moved by the time between them (C3).
type ClockVerdict struct {
	Readings int // clock readings
	Judged   int // readings judged by C1 (their term's reference reported)
	Unsynced int // readings that failed (ErrUnsynced)
	NoRef    int // readings on a term whose reference never reported
	Pairs    int // pairs judged by C3
	C1       []string
	C2       []string
	C3       []string
	// Err is the largest distance from a judged reading's midpoint to
	// the truth; Uncertainty the largest half-width judged.
	Err, Uncertainty time.Duration
}

// Clocks judges the "clock" events of evs.
func Clocks(evs []Event) ClockVerdict {
	var v ClockVerdict
	type refReading struct {
		at  time.Time
		off time.Duration
	}
	offsets := map[uint64][]refReading{} // per term, in time order
	var rs []Event
	for _, e := range evs {
		if e.T != "clock" {
			continue
		}
		v.Readings++
		if e.Err != "" {
			v.Unsynced++
			continue
		}
		if e.Ref {
			offsets[e.Token] = append(offsets[e.Token], refReading{e.At, e.Offset})
		}
		rs = append(rs, e)
	}
	slices.SortFunc(rs, func(a, b Event) int { return a.At.Compare(b.At) })
	// A reference's offset changes only if it detects a step of its
	// physical clock: judge a reading by the latest offset reported
	// before it (or the first, for readings before any).
	for _, list := range offsets {
		slices.SortFunc(list, func(a, b refReading) int { return a.at.Compare(b.at) })
	}
	offset := func(term uint64, at time.Time) (time.Duration, bool) {
		list := offsets[term]
		if len(list) == 0 {
			return 0, false
		}
		i, _ := slices.BinarySearchFunc(list, at, func(r refReading, t time.Time) int { return r.at.Compare(t) })
		return list[max(i-1, 0)].off, true
	}
	type proc struct {
		node string
		pid  int
	}
	lastNow := map[proc]time.Time{}
	lastOf := map[int]Event{} // each process's latest reading
	for _, r := range rs {
		p := proc{r.Node, r.PID}
		if prev, ok := lastNow[p]; ok && r.Now.Before(prev) {
			v.C2 = append(v.C2, fmt.Sprintf("%s (pid %d) at %s: Now %s after %s", r.Node, r.PID, r.At.Format("15:04:05.000"), r.Now.Format("15:04:05.000000"), prev.Format("15:04:05.000000")))
		}
		lastNow[p] = r.Now
		if off, ok := offset(r.Token, r.At); ok {
			v.Judged++
			lo, hi := r.At.Add(off), r.Done.Add(off)
			if r.Latest.Before(lo) || r.Earliest.After(hi) {
				v.C1 = append(v.C1, fmt.Sprintf("%s (pid %d) at %s, term %d: [%s, %s] misses [%s, %s]", r.Node, r.PID, r.At.Format("15:04:05.000"), r.Token,
					r.Earliest.Format("15:04:05.000000"), r.Latest.Format("15:04:05.000000"), lo.Format("15:04:05.000000"), hi.Format("15:04:05.000000")))
			}
			mid := r.Earliest.Add(r.Latest.Sub(r.Earliest) / 2)
			v.Err = max(v.Err, absDur(mid.Sub(lo.Add(hi.Sub(lo)/2))))
			v.Uncertainty = max(v.Uncertainty, r.Latest.Sub(r.Earliest)/2)
		} else {
			v.NoRef++
		}
		for pid, o := range lastOf {
			if pid == r.PID || o.Token != r.Token || r.At.Sub(o.Done) > 100*time.Millisecond {
				continue
			}
			v.Pairs++
			// o's interval moved to r's instant, which lies between
			// r.At-o.Done and r.Done-o.At after o's.
			lo, hi := o.Earliest.Add(r.At.Sub(o.Done)), o.Latest.Add(r.Done.Sub(o.At))
			if hi.Before(r.Earliest) || lo.After(r.Latest) {
				v.C3 = append(v.C3, fmt.Sprintf("%s and %s at %s, term %d: [%s, %s] moved to [%s, %s] misses [%s, %s]", o.Node, r.Node, r.At.Format("15:04:05.000"), r.Token,
					o.Earliest.Format("15:04:05.000000"), o.Latest.Format("15:04:05.000000"), lo.Format("15:04:05.000000"), hi.Format("15:04:05.000000"),
					r.Earliest.Format("15:04:05.000000"), r.Latest.Format("15:04:05.000000")))
			}
		}
		lastOf[r.PID] = r
	}
	return v
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
