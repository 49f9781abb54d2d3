package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// The task workload: on every node taskSubmitters submitters Run the
// command "work" (a 1-20 ms sleep) with a deadline of taskDeadline, some
// with idempotency ids shared across nodes, and every node runs the
// leader-only schedule "tick" every taskTick. The report judges the
// history against T1-T3.
const (
	taskSubmitters = 2
	taskDeadline   = 3 * time.Second
	taskTimeout    = time.Second
	taskTick       = 500 * time.Millisecond
)

// startTasks starts the task workload.
func startTasks(c *sim.Cluster, cfg simConfig) (*sim.TaskWorkload, error) {
	return sim.StartTasks(c, sim.TaskOptions{Submitters: taskSubmitters, Deadline: taskDeadline, Timeout: taskTimeout, Tick: taskTick, Seed: cfg.Seed})
}

// taskReport is what the task workload recorded and its verdict.
type taskReport struct {
	Verdict  check.TaskVerdict
	Failures []string
}

func newTaskReport(h check.TaskHistory) taskReport {
	return taskReport{Verdict: check.CheckTasks(h), Failures: h.Failures}
}

// print writes the tasks section of the report, aligned by tw.
func (t *taskReport) print(tw io.Writer) {
	v := t.Verdict
	failed := 0
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(v.Failed)) {
		failed += v.Failed[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v.Failed[k]))
	}
	line := fmt.Sprintf("%d submitted, %d done, %d failed", v.Submitted, v.Done, failed)
	if len(kinds) > 0 {
		line += " (" + strings.Join(kinds, ", ") + ")"
	}
	line += fmt.Sprintf(", %d with the submitter crashed, %.1f done/s", v.Died, v.PerSecond)
	fmt.Fprintf(tw, "tasks\t%d submitters per node, deadline %s, attempt timeout %s: %s\n", taskSubmitters, fmtDur(taskDeadline), fmtDur(taskTimeout), line)
	fmt.Fprintf(tw, "task latency\tp50 %s, p99 %s\n", fmtDur(v.P50), fmtDur(v.P99))
	fmt.Fprintf(tw, "executions\t%d; %d tasks without id ran more than once (%d extra runs, at-least-once); %d runs of %d idempotency ids\n",
		v.Executions, v.Duplicated, v.DuplicateRuns, v.IdemRuns, v.IdemIDs)
	if v.T2Cross.N > 0 {
		fmt.Fprintf(tw, "across workers\t%d overlaps of one id on different workers (documented hazard during membership changes): %s\n", v.T2Cross.N, v.T2Cross.First[0])
	}
	if v.Unmatched.N > 0 {
		fmt.Fprintf(tw, "unmatched results\t%d: %s\n", v.Unmatched.N, v.Unmatched.First[0])
	}
	fmt.Fprintf(tw, "task schedule\tevery %s: %d ticks, %d run, %d missed, %d doubled%s\n", fmtDur(taskTick), v.Ticks, v.TicksRun, v.TicksMissed, v.TicksDoubled, doubledList(v.Doubled))
	if len(t.Failures) > 0 {
		fmt.Fprintf(tw, "task workload errors\t%d; first: %s\n", len(t.Failures), t.Failures[0])
	}
}

func doubledList(ks []int64) string {
	if len(ks) == 0 {
		return ""
	}
	var s []string
	for _, k := range ks[:min(len(ks), 5)] {
		s = append(s, fmt.Sprint(k))
	}
	return " (ticks " + strings.Join(s, ", ") + ")"
}
