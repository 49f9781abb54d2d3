package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

var spaces = regexp.MustCompile(` {2,}`)

func TestTaskVerdictAndExitStatus(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sub := func(task, idem, node string, called, returned float64, result string) sim.Submission {
		s := sim.Submission{Task: task, Idem: idem, Submitter: node, Incarnation: 1, Called: at(called), Deadline: at(called + 3), Result: result}
		if returned >= 0 {
			s.Returned = at(returned)
		}
		return s
	}
	ex := func(task, idem, node string, start, end float64) sim.Execution {
		return sim.Execution{Task: task, Idem: idem, Node: node, Incarnation: 1, Start: at(start), End: at(end)}
	}
	failed := sub("c", "", "n2", 1, 4, "")
	failed.Err, failed.ErrKind = "no worker", "no worker"
	clean := []sim.Submission{sub("a", "", "n1", 0, 0.1, "done:a"), sub("b", "x", "n2", 0, 0.2, "done:b"), failed}
	execs := []sim.Execution{ex("a", "", "n2", 0.01, 0.09), ex("b", "x", "n3", 0.01, 0.15)}
	late := sub("d", "", "n1", 2, 5.5, "")
	late.Err, late.ErrKind = "deadline", "deadline"
	ticks := []sim.TickRun{{Tick: 1, Node: "n1"}, {Tick: 2, Node: "n1"}, {Tick: 2, Node: "n2"}, {Tick: 4, Node: "n2"}}
	tests := []struct {
		name       string
		subs       []sim.Submission
		execs      []sim.Execution
		wantCode   int
		wantReport []string
		wantStderr []string
	}{
		{
			name: "clean", subs: clean, execs: execs, wantCode: 0,
			wantReport: []string{
				"3 submitted, 2 done, 1 failed (no worker 1), 0 with the submitter crashed, 0.2 done/s\n",
				"task latency         p50 100ms, p99 200ms\n",
				"T1 no task lost      held\n", "T2 idempotency      held\n", "T3 deadlines        held\n",
				"schedule             every 500ms: 4 ticks, 3 run, 1 missed, 1 doubled (ticks 2)\n",
			},
		},
		{
			name: "lost", subs: append(clean[:3:3], sub("e", "", "n3", 1, -1, "")), execs: execs, wantCode: 1,
			wantReport: []string{"T1 no task lost      BROKEN: e (submitted by n3 at "},
			wantStderr: []string{"gossipsync sim: task property T1 (no Run of a living submitter is left without a result or an error) BROKEN: e "},
		},
		{
			name: "concurrent idempotent runs", subs: clean, execs: append(execs[:2:2], ex("z", "x", "n3", 0.1, 0.3)), wantCode: 1,
			wantReport: []string{"T2 idempotency      BROKEN: x: ran on n3#1 from "},
			wantStderr: []string{"task property T2 (one worker never runs an idempotency id twice at once) BROKEN"},
		},
		{
			name: "late", subs: append(clean[:3:3], late), execs: execs, wantCode: 1,
			wantReport: []string{"T3 deadlines        BROKEN: d (submitted by n1) returned 500ms after its deadline"},
			wantStderr: []string{"task property T3 (every Run returns by its deadline (+50ms slack)) BROKEN"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sim.TaskHistory{Submissions: tt.subs, Executions: tt.execs, Ticks: ticks, Tick: taskTick, Begin: at(0), End: at(10)}
			rep := &report{FinalConverged: true, Tasks: newTaskReport(h), Locks: newLockReport(sim.LockHistory{Begin: at(0), End: at(10)}, false)}
			var out, stderr bytes.Buffer
			rep.print(&out)
			code := exitStatus(rep, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantReport {
				// The columns align on the widest label: any run of spaces.
				re := regexp.MustCompile(spaces.ReplaceAllString(regexp.QuoteMeta(w), " +"))
				if !re.MatchString(out.String()) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
