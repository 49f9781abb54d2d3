package check

import (
	"cmp"
	"slices"
	"time"
)

// DeadlineSlack is how long after its deadline a Run may return before
// T3 counts it: the time for the goroutine that ctx's timer wakes to
// return from Run and record it (scheduling, not the taskpool). It
// counts from the deadline, or from when the machine first ran a
// goroutine woken by it (Submission.Noticed), if later: a machine
// loaded so that nothing ran for a while after the deadline (a GC, 50
// nodes on 2 cores) delays every Run alike, which is not the taskpool
// keeping one from returning.
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
		if late := s.Returned.Sub(later(s.Deadline, s.Noticed)); late > DeadlineSlack {
			v.T3.add("%s (submitted by %s) returned %v after its deadline %s", s.Task, s.Submitter, s.Returned.Sub(s.Deadline).Round(time.Millisecond), stamp(s.Deadline))
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

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Submission is one Run as its submitter lived it.
type Submission struct {
	Task      string // unique per submission
	Idem      string // the Command's idempotency id; "" for none
	Submitter string // node
	// Incarnation counts the starts of the submitter's node (1 first).
	Incarnation int
	// Called is when Run was called, Deadline its ctx's deadline,
	// Returned when it returned (zero: it has not). Noticed is when a
	// goroutine woken by the deadline (context.AfterFunc) first ran,
	// if that was before Run returned: how late the machine ran
	// anything waiting on the deadline (zero: Run returned first).
	Called, Deadline, Returned, Noticed time.Time
	Result                              string // the result, when Err is ""
	Err                                 string // the error's text
	ErrKind                             string // the error's kind (TaskErrKind)
	// SubmitterDied: the submitter's node crashed or left while the Run
	// was in flight (the Run was canceled then); T1 does not judge it.
	SubmitterDied bool
}

// Execution is one run of the "work" handler on a worker.
type Execution struct {
	Task, Idem  string // from the payload: the submission whose payload ran
	Node        string
	Incarnation int
	Start, End  time.Time // End zero: still running
}

// TickRun is one run of the schedule's command.
type TickRun struct {
	// Tick is derived from the time the run started: Unix time divided by
	// the period. The leader runs tick k at the start of k (or at once
	// when it takes over during k), and the Func runs on its own pool at
	// once; a run that started late would count for a later tick. The
	// election term is not visible to a scheduled command.
	Tick        int64
	Node        string
	Incarnation int
	At          time.Time
}

// TaskHistory is what a task workload recorded.
type TaskHistory struct {
	Submissions []Submission
	Executions  []Execution
	Ticks       []TickRun
	Tick        time.Duration // the schedule's period; 0: no schedule
	Crashes     []time.Time   // crashes and leaves of nodes, for the schedule's misses
	Failures    []string      // errors of the workload itself (not properties)
	Begin, End  time.Time
}
