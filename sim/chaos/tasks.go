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

// taskRecord is what the task workload recorded and its verdict.
type taskRecord struct {
	Verdict  check.TaskVerdict
	Failures []string
}

func newTaskRecord(h check.TaskHistory) taskRecord {
	return taskRecord{Verdict: check.CheckTasks(h), Failures: h.Failures}
}

// print writes the tasks section of the report, aligned by tw.
func (t *TaskReport) print(tw io.Writer) {
	failed := 0
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(t.Failed)) {
		failed += t.Failed[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, t.Failed[k]))
	}
	line := fmt.Sprintf("%d submitted, %d done, %d failed", t.Submitted, t.Done, failed)
	if len(kinds) > 0 {
		line += " (" + strings.Join(kinds, ", ") + ")"
	}
	line += fmt.Sprintf(", %d with the submitter crashed, %.1f done/s", t.SubmitterCrashed, t.PerSecond)
	fmt.Fprintf(tw, "tasks\t%d submitters per node, deadline %s, attempt timeout %s: %s\n",
		t.SubmittersPerNode, fmtDur(t.Deadline.Std()), fmtDur(t.AttemptTimeout.Std()), line)
	fmt.Fprintf(tw, "task latency\tp50 %s, p99 %s\n", fmtDur(t.Latency.P50.Std()), fmtDur(t.Latency.P99.Std()))
	fmt.Fprintf(tw, "executions\t%d; %d tasks without id ran more than once (%d extra runs, at-least-once); %d runs of %d idempotency ids\n",
		t.Executions, t.Duplicated, t.DuplicateRuns, t.IdemRuns, t.IdemIDs)
	if f := t.T2Cross; f.Violations > 0 {
		fmt.Fprintf(tw, "across workers\t%d overlaps of one id on different workers (documented hazard during membership changes): %s\n", f.Violations, f.Examples[0])
	}
	if f := t.Unmatched; f.Violations > 0 {
		fmt.Fprintf(tw, "unmatched results\t%d: %s\n", f.Violations, f.Examples[0])
	}
	fmt.Fprintf(tw, "task schedule\tevery %s: %d ticks, %d run, %d missed, %d doubled%s\n",
		fmtDur(t.TickEvery.Std()), t.Ticks, t.TicksRun, t.TicksMissed, t.TicksDoubled, doubledList(t.DoubledTicks))
	if len(t.WorkloadErrors) > 0 {
		fmt.Fprintf(tw, "task workload errors\t%d; first: %s\n", len(t.WorkloadErrors), t.WorkloadErrors[0])
	}
}

func doubledList(ks []int64) string {
	if len(ks) == 0 {
		return ""
	}
	var s []string
	for _, k := range ks {
		s = append(s, fmt.Sprint(k))
	}
	return " (ticks " + strings.Join(s, ", ") + ")"
}
