package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The idle row's shape.
const (
	idleNodes  = 50               // the larger cluster; the smaller is 1 node
	idleWindow = 10 * time.Second // measured in each child
)

func idleRow() row {
	return row{
		name:  "idle",
		title: "Idle cost: n nodes in one process, at rest",
		setup: fmt.Sprintf("What gossipsync costs when nothing is asked of it: 1 node, then %d nodes, "+
			"each time in a child process of its own (the benchmark runs itself again), so that "+
			"the benchmark's etcd, NATS and other nodes do not count. Every node is a cluster.Node "+
			"on 127.0.0.1 (Local profile, no secret key, quorum basis n) with a lockmgr.Manager "+
			"(quorum mode, LockDelay 2.5 s) and an election.Elector (group \"idle\", Local lease 1 s); "+
			"the Manager and the Elector start the node's voters service (up to 5 voters in a Raft "+
			"group). Held at rest: node 1 holds one lock (TTL 2 s, renewed every third of it) and "+
			"leads the group (its lease renewed); no other node campaigns or waits for anything. "+
			"A lock or leadership lost (a loaded machine can starve a lease of 1 s) is taken again, "+
			"and the line says so beside its figures. "+
			"The child waits until every node sees all n members, knows the voters' leader "+
			"(with the group at full size: min(5, n) voters) and knows node 1 as the election's "+
			"leader, lets 1 s pass, then measures %.0f s: the CPU time of the process (user+system, "+
			"getrusage) as a percent of one core, and at the end its resident set (VmRSS), the Go "+
			"heap live at the last collection (runtime/metrics) and its goroutines. The resident set "+
			"counts the pages of this program's code that the child touched, and the program also "+
			"holds etcd's and NATS's: the 1-node figure is an upper bound of a gossipsync program's; "+
			"beyond the first leaves it out. n is the "+
			"nodes; the figures are in parentheses. Per node is the %d-node figure ÷ %d; beyond the "+
			"first is (the %d-node figure − the 1-node figure) ÷ %d, what one more node adds. "+
			"Linux only (getrusage, /proc/self/status).",
			idleNodes, idleWindow.Seconds(), idleNodes, idleNodes, idleNodes, idleNodes-1),
		custom: measureIdle,
	}
}

// idleFigures are an idle line's measures, as -json writes them.
type idleFigures struct {
	Nodes      int     `json:"nodes"`
	WindowS    float64 `json:"window_s"`
	CPUPercent float64 `json:"cpu_percent_of_one_core"`
	RSSBytes   float64 `json:"rss_bytes"`
	HeapBytes  float64 `json:"live_heap_bytes"`
	Goroutines float64 `json:"goroutines"`
}

// note is the figures as the table's n cell shows them.
func (f idleFigures) note() string {
	return fmt.Sprintf("CPU %s %% of a core, RSS %s, live heap %s, %.0f goroutines",
		sig3(f.CPUPercent), mib(f.RSSBytes), mib(f.HeapBytes), f.Goroutines)
}

// scaled divides every measure by k.
func (f idleFigures) scaled(k float64) idleFigures {
	f.CPUPercent /= k
	f.RSSBytes /= k
	f.HeapBytes /= k
	f.Goroutines /= k
	return f
}

// minus subtracts o's measures from f's.
func (f idleFigures) minus(o idleFigures) idleFigures {
	f.CPUPercent -= o.CPUPercent
	f.RSSBytes -= o.RSSBytes
	f.HeapBytes -= o.HeapBytes
	f.Goroutines -= o.Goroutines
	return f
}

// measureIdle runs the 1-node child, then the idleNodes one, and makes
// the row's lines from their reports.
func measureIdle(ctx context.Context, _ *env, _ config, log io.Writer) []result {
	line := func(system string, nodes int) result {
		return result{System: system, Gossipsync: true, N: nodes}
	}
	if _, err := procUsage(); err != nil {
		l := line("gossipsync", 0)
		l.Skipped = err.Error()
		return []result{l}
	}
	one, errOne := runIdle(ctx, 1, log)
	many, errMany := runIdle(ctx, idleNodes, log)
	lines := []result{line("gossipsync, 1 node", 1)}
	total := line(fmt.Sprintf("gossipsync, %d nodes", idleNodes), idleNodes)
	per := line(fmt.Sprintf("gossipsync, %d nodes, per node", idleNodes), idleNodes)
	beyond := line("gossipsync, each node beyond the first", idleNodes)
	set := func(l *result, f idleFigures, err error, lost string) {
		if err != nil {
			l.Skipped = "failed: " + err.Error()
			return
		}
		l.Idle = &f
		l.Note = f.note()
		if lost != "" {
			l.Note += "; " + lost
		}
	}
	set(&lines[0], one.figures(), errOne, one.Lost)
	set(&total, many.figures(), errMany, many.Lost)
	set(&per, many.figures().scaled(idleNodes), errMany, many.Lost)
	lines = append(lines, total, per)
	if errOne == nil && errMany == nil {
		set(&beyond, many.figures().minus(one.figures()).scaled(idleNodes-1), nil, "")
		lines = append(lines, beyond)
	}
	for _, l := range lines {
		fmt.Fprintf(log, "   %-28s n=%d %s%s\n", l.System, l.N, l.Note, l.Skipped)
	}
	return lines
}

func (r idleReport) figures() idleFigures {
	f := idleFigures{Nodes: r.Nodes, WindowS: r.WindowS, RSSBytes: float64(r.RSSBytes),
		HeapBytes: float64(r.HeapBytes), Goroutines: float64(r.Goroutines)}
	if r.WindowS > 0 {
		f.CPUPercent = 100 * r.CPUS / r.WindowS
	}
	return f
}

// runIdle runs this program again as the idle child of n nodes and
// returns its report; the child's progress goes to log.
func runIdle(ctx context.Context, n int, log io.Writer) (idleReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return idleReport{}, err
	}
	fmt.Fprintf(log, "   start a child of %s\n", nodesText(n))
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, idleChildFlag, "-nodes", fmt.Sprint(n), "-window", idleWindow.String())
	cmd.Stdout, cmd.Stderr = &out, log
	dieWithParent(cmd)
	if err := cmd.Run(); err != nil {
		return idleReport{}, fmt.Errorf("child of %d nodes: %w", n, err)
	}
	var rep idleReport
	last := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if err := json.Unmarshal([]byte(last), &rep); err != nil {
		return idleReport{}, fmt.Errorf("child of %d nodes: its report %q: %w", n, last, err)
	}
	fmt.Fprintf(log, "   child of %s: at rest after %.1f s (voters: %d), measured %.1f s\n",
		nodesText(n), rep.ReadyS, rep.Voters, rep.WindowS)
	return rep, nil
}

// nodesText is "1 node" or "n nodes".
func nodesText(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// sig3 prints x with three significant figures.
func sig3(x float64) string { return fmt.Sprintf("%.3g", x) }

// mib prints a byte count in MiB, three significant figures.
func mib(b float64) string { return fmt.Sprintf("%.3g MiB", b/(1<<20)) }
