package check

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckTasks(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sub := func(task, idem, node string, called, returned float64, result string) Submission {
		s := Submission{Task: task, Idem: idem, Submitter: node, Incarnation: 1, Called: at(called), Deadline: at(called + 3), Result: result}
		if returned >= 0 {
			s.Returned = at(returned)
		}
		return s
	}
	ex := func(task, idem, node string, inc int, start, end float64) Execution {
		return Execution{Task: task, Idem: idem, Node: node, Incarnation: inc, Start: at(start), End: at(end)}
	}
	cleanSubs := []Submission{
		sub("a", "", "n1", 0, 0.1, "done:a"),
		sub("b", "x", "n2", 0, 0.2, "done:b"),
		sub("c", "x", "n3", 0.05, 0.2, "done:b"), // shared b's execution
	}
	failed := sub("d", "", "n1", 1, 4, "")
	failed.Err, failed.ErrKind = "deadline", "deadline"
	cleanSubs = slices.Clip(append(cleanSubs, failed))
	cleanExecs := []Execution{ex("a", "", "n2", 1, 0.01, 0.09), ex("b", "x", "n1", 1, 0.01, 0.15), ex("b", "x", "n1", 1, 0.3, 0.4)}
	tick := func(k int64, node string) TickRun { return TickRun{Tick: k, Node: node} }
	cleanTicks := []TickRun{tick(10, "n1"), tick(11, "n1"), tick(12, "n2")}

	died := sub("e", "", "n2", 2, -1, "")
	died.SubmitterDied = true
	lateSub := sub("f", "", "n1", 2, 5.1, "")
	lateSub.Err, lateSub.ErrKind = "deadline", "deadline"
	slackSub := sub("g", "", "n1", 2, 5.04, "")
	slackSub.Err, slackSub.ErrKind = "deadline", "deadline"
	// 100 ms late, but the machine ran nothing woken by the deadline for
	// 80 ms: 20 ms are the Run's.
	stalled := lateSub
	stalled.Noticed = at(5.08)
	// 100 ms late though the deadline was noticed 10 ms after it.
	noticedLate := lateSub
	noticedLate.Noticed = at(5.01)
	tests := []struct {
		name                 string
		subs                 []Submission
		execs                []Execution
		ticks                []TickRun
		t1, t2, t2cross, t3  int
		dup, unmatched, open int
		missed, doubled      int
		want                 string // part of the first T1, T2 or T3 violation
	}{
		{name: "clean", subs: cleanSubs, execs: cleanExecs, ticks: cleanTicks},
		{name: "lost task", subs: append(cleanSubs, sub("e", "", "n2", 2, -1, "")), execs: cleanExecs, t1: 1, want: "e (submitted by n2 at"},
		{name: "submitter died", subs: append(cleanSubs, died), execs: cleanExecs},
		{name: "open before deadline", subs: append(cleanSubs, sub("e", "", "n2", 9, -1, "")), execs: cleanExecs, open: 1},
		{name: "concurrent idem on one worker", subs: cleanSubs, execs: append(cleanExecs, ex("c", "x", "n1", 1, 0.1, 0.2)), t2: 1, want: "x: ran on n1#1 from"},
		{name: "concurrent idem across workers", subs: cleanSubs, execs: append(cleanExecs, ex("c", "x", "n3", 1, 0.1, 0.2)), t2cross: 1},
		{name: "concurrent idem across incarnations", subs: cleanSubs, execs: append(cleanExecs, ex("c", "x", "n1", 2, 0.1, 0.2)), t2cross: 1},
		{name: "late run", subs: append(cleanSubs, lateSub), execs: cleanExecs, t3: 1, want: "f (submitted by n1) returned 100ms after its deadline"},
		{name: "within slack", subs: append(cleanSubs, slackSub), execs: cleanExecs},
		{name: "late, the machine stalled", subs: append(cleanSubs, stalled), execs: cleanExecs},
		{name: "late, the deadline noticed", subs: append(cleanSubs, noticedLate), execs: cleanExecs, t3: 1, want: "f (submitted by n1) returned 100ms after its deadline"},
		{name: "duplicate execution", subs: cleanSubs, execs: append(cleanExecs, ex("a", "", "n3", 1, 0.05, 0.08)), dup: 1},
		{name: "wrong result", subs: append(cleanSubs, sub("h", "", "n1", 2, 2.1, "done:a")), execs: cleanExecs, unmatched: 1},
		{name: "ticks missed and doubled", subs: cleanSubs, execs: cleanExecs, ticks: append(cleanTicks, tick(15, "n3"), tick(15, "n1")), missed: 2, doubled: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CheckTasks(TaskHistory{Submissions: tt.subs, Executions: tt.execs, Ticks: tt.ticks, Begin: at(0), End: at(10)})
			if v.T1.N != tt.t1 || v.T2.N != tt.t2 || v.T2Cross.N != tt.t2cross || v.T3.N != tt.t3 {
				t.Errorf("T1 %d, T2 %d, T2 cross %d, T3 %d; want %d, %d, %d, %d\n%+v", v.T1.N, v.T2.N, v.T2Cross.N, v.T3.N, tt.t1, tt.t2, tt.t2cross, tt.t3, v)
			}
			if v.Duplicated != tt.dup || v.Unmatched.N != tt.unmatched || v.Open != tt.open {
				t.Errorf("duplicated %d, unmatched %d, open %d; want %d, %d, %d", v.Duplicated, v.Unmatched.N, v.Open, tt.dup, tt.unmatched, tt.open)
			}
			if v.TicksMissed != tt.missed || v.TicksDoubled != tt.doubled {
				t.Errorf("ticks missed %d, doubled %d; want %d, %d", v.TicksMissed, v.TicksDoubled, tt.missed, tt.doubled)
			}
			if v.OK() != (tt.t1+tt.t2+tt.t3 == 0) {
				t.Errorf("OK() = %v", v.OK())
			}
			var first []string
			for _, vs := range []Violations{v.T1, v.T2, v.T3} {
				first = append(first, vs.First...)
			}
			if tt.want != "" && (len(first) == 0 || !strings.Contains(first[0], tt.want)) {
				t.Errorf("first violation %q, want it to contain %q", first, tt.want)
			}
		})
	}
	v := CheckTasks(TaskHistory{Submissions: cleanSubs, Executions: cleanExecs, Begin: at(0), End: at(10)})
	if v.Submitted != 4 || v.Done != 3 || v.Failed["deadline"] != 1 || v.PerSecond != 0.3 || v.P99 != 200*time.Millisecond || v.IdemRuns != 2 || v.IdemIDs != 1 {
		t.Errorf("counts: %+v", v)
	}
}
