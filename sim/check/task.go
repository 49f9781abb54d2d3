package sim

import (
	"cmp"
	"slices"
	"time"
)

// DeadlineSlack is how long after its deadline a Run may return before
// T3 counts it: the time for the goroutine that ctx's timer wakes to
// return from Run and record it (scheduling, not the taskpool).
const DeadlineSlack = 50 * time.Millisecond

// TaskVerdict judges a task history against T1-T3.
type TaskVerdict struct {
	Submitted int            // Runs called
	Done      int            // Runs that returned a result
	Failed    map[string]int // Runs that returned an error, by kind (TaskErrKind)
	Died      int            // Runs whose submitter crashed meanwhile (not judged by T1)
	Open      int            // Runs not returned by the history's end whose deadline had not passed
	PerSecond float64        // Done per second over the history's span
	P50, P99  time.Duration  // latency of the Runs that returned a result: Called to Returned

	// T1: a Run of a living submitter that neither returned by its
	// deadline nor by the history's end.
	T1 Violations
	// T2: two executions of one idempotency id overlapping in time on one
	// worker (one node incarnation): the doc promises these never happen.
	T2 Violations
	// T2Cross: overlapping executions of one idempotency id on different
	// workers; a documented hazard during membership changes, reported.
	T2Cross Violations
	// T3: a Run that returned later than DeadlineSlack after its deadline.
	T3 Violations

	Executions int // runs of the handler
	// Duplicated counts the tasks without idempotency id whose body ran
	// more than once (at-least-once delivery), DuplicateRuns the runs
	// beyond the first.
	Duplicated, DuplicateRuns int
	// IdemRuns is how often bodies of tasks with an idempotency id ran,
	// IdemIDs over how many ids (sequential re-runs are allowed).
	IdemRuns, IdemIDs int
	// Unmatched counts results that no execution of the task (or of its
	// idempotency id) produced.
	Unmatched Violations

	// The schedule: ticks from the first run to the last, those run, not
	// run and run more than once.
	Ticks, TicksRun, TicksMissed, TicksDoubled int
	Doubled                                    []int64 // at most maxExamples
}

// OK reports whether T1-T3 held.
func (v TaskVerdict) OK() bool { return v.T1.N+v.T2.N+v.T3.N == 0 }

// CheckTasks judges a task history.
func CheckTasks(h TaskHistory) TaskVerdict {
	v := TaskVerdict{Submitted: len(h.Submissions), Failed: map[string]int{}, Executions: len(h.Executions)}
	results := map[string]bool{} // "done:<task>" results some execution produced
	byTask := map[string]int{}
	idemByID := map[string][]Execution{}
	for _, e := range h.Executions {
		results["done:"+e.Task] = true
		if e.Idem == "" {
			byTask[e.Task]++
			continue
		}
		v.IdemRuns++
		idemByID[e.Idem] = append(idemByID[e.Idem], e)
	}
	v.IdemIDs = len(idemByID)
	for _, n := range byTask {
		if n > 1 {
			v.Duplicated++
			v.DuplicateRuns += n - 1
		}
	}
	idemResults := map[string]map[string]bool{} // idem id -> results its executions produced
	for id, es := range idemByID {
		idemResults[id] = map[string]bool{}
		for _, e := range es {
			idemResults[id]["done:"+e.Task] = true
		}
	}
	var lat []time.Duration
	for _, s := range h.Submissions {
		switch {
		case s.Returned.IsZero():
			switch {
			case s.SubmitterDied:
				v.Died++
			case s.Deadline.Before(h.End):
				v.T1.add("%s (submitted by %s at %s, deadline %s) never returned", s.Task, s.Submitter, stamp(s.Called), stamp(s.Deadline))
			default:
				v.Open++
			}
			continue
		case s.SubmitterDied:
			v.Died++
		case s.Err == "":
			v.Done++
			lat = append(lat, s.Returned.Sub(s.Called))
			ok := results[s.Result]
			if s.Idem != "" {
				ok = idemResults[s.Idem][s.Result]
			} else {
				ok = s.Result == "done:"+s.Task && ok
			}
			if !ok {
				v.Unmatched.add("%s (id %q) got %q, which no execution of it produced", s.Task, s.Idem, s.Result)
			}
		default:
			v.Failed[cmp.Or(s.ErrKind, "other")]++
		}
		if late := s.Returned.Sub(s.Deadline); late > DeadlineSlack {
			v.T3.add("%s (submitted by %s) returned %v after its deadline %s", s.Task, s.Submitter, late.Round(time.Millisecond), stamp(s.Deadline))
		}
	}
	v.P50, v.P99 = percentile(lat, 50), percentile(lat, 99)
	if span := h.End.Sub(h.Begin); span > 0 {
		v.PerSecond = float64(v.Done) / span.Seconds()
	}
	for _, id := range slices.Sorted(mapsKeys(idemByID)) {
		checkIdem(id, idemByID[id], h.End, &v)
	}
	checkTicks(h.Ticks, &v)
	return v
}

// checkIdem finds the overlapping executions of idempotency id in es.
func checkIdem(id string, es []Execution, end time.Time, v *TaskVerdict) {
	slices.SortStableFunc(es, func(a, b Execution) int { return a.Start.Compare(b.Start) })
	for i, b := range es {
		for _, a := range es[:i] {
			aEnd := cmp.Or(a.End, end)
			if !b.Start.Before(aEnd) {
				continue
			}
			out := &v.T2
			if a.Node != b.Node || a.Incarnation != b.Incarnation {
				out = &v.T2Cross
			}
			out.add("%s: ran on %s#%d from %s while it ran on %s#%d (%s to %s)", id, b.Node, b.Incarnation, stamp(b.Start), a.Node, a.Incarnation, stamp(a.Start), stamp(aEnd))
		}
	}
}

// checkTicks counts the schedule's ticks from the first run to the last:
// run, missed and doubled.
func checkTicks(ticks []TickRun, v *TaskVerdict) {
	if len(ticks) == 0 {
		return
	}
	runs := map[int64]int{}
	lo, hi := ticks[0].Tick, ticks[0].Tick
	for _, t := range ticks {
		runs[t.Tick]++
		lo, hi = min(lo, t.Tick), max(hi, t.Tick)
	}
	v.Ticks = int(hi - lo + 1)
	v.TicksRun = len(runs)
	v.TicksMissed = v.Ticks - v.TicksRun
	for _, k := range slices.Sorted(func(yield func(int64) bool) {
		for k := range runs {
			if !yield(k) {
				return
			}
		}
	}) {
		if runs[k] > 1 {
			v.TicksDoubled++
			if len(v.Doubled) < maxExamples {
				v.Doubled = append(v.Doubled, k)
			}
		}
	}
}
