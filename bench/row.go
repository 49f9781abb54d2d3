package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A row is one workload measured on gossipsync and on its peers: a group
// of lines in the table.
type row struct {
	name   string // for -only
	title  string // first column of the table
	setup  string // what is measured and how, for -list and the README
	metric metric // which figure the ratio divides
	// oneOp rows (failover) run one operation per system per round,
	// at least minOps rounds, with no warm-up: each operation takes
	// seconds and the system's start already did one.
	oneOp  bool
	minOps int
	// systems are measured alternately, in this order (reversed on
	// every other round).
	systems []system
	// custom, if set, replaces the alternating measurement: the row
	// measures itself and returns its lines, whose Name and Row
	// measureRow fills in (the time row, which has no peer).
	custom func(ctx context.Context, e *env, cfg config, log io.Writer) []result
}

// metric says which figure a row's ratio divides.
type metric int

const (
	// throughput rows: gossipsync ops/s ÷ the peer's ops/s; above 1 means
	// gossipsync does more.
	throughput metric = iota
	// latency rows: gossipsync p50 ÷ the peer's p50; below 1 means
	// gossipsync is faster.
	latency
)

// role says how a line takes part in its row's ratios.
type role int

const (
	peer     role = iota // a peer: its ratio compares gossipsync with it
	baseline             // the gossipsync line the ratios divide
	variant              // a second gossipsync line, its ratios shown in parentheses
	aside                // another gossipsync line, in no ratio
)

// A system is one implementation measured in a row.
type system struct {
	name string
	role role
	// start prepares the system for the row (peers are started once per
	// run and shared by rows) and returns its workload. An error that
	// wraps errSkip marks the line skipped, with the error as reason.
	start func(ctx context.Context, e *env) (workload, error)
}

// errSkip marks a system that cannot run on this machine.
var errSkip = errors.New("skipped")

// workload runs a row's operations on one system.
type workload struct {
	// run performs operations until the time until (each operation
	// begun before it completes; at least one) and records each in rec.
	// Failed operations are recorded as failures; an error return means
	// the system cannot go on in this row.
	run func(ctx context.Context, until time.Time, rec *recorder) error
	// stop releases what start made for the row; may be nil.
	stop func()
	// note, if set, says something the table should show beside n.
	note func() string
}

// An op is one operation of a closed loop; seq numbers the operations of
// a workload from 0, over all its goroutines.
type op func(ctx context.Context, seq int64) error

// closedLoop returns a workload's run that starts one goroutine per op;
// each runs its op back to back (the next when the last returns) until
// the slice ends, each call bounded by timeout.
func closedLoop(ops []op, timeout time.Duration) func(context.Context, time.Time, *recorder) error {
	var next atomic.Int64
	return func(ctx context.Context, until time.Time, rec *recorder) error {
		var wg sync.WaitGroup
		for _, do := range ops {
			wg.Go(func() {
				for first := true; first || time.Now().Before(until); first = false {
					if ctx.Err() != nil {
						return
					}
					seq := next.Add(1) - 1
					t0 := time.Now()
					octx, cancel := context.WithTimeout(ctx, timeout)
					err := do(octx, seq)
					cancel()
					if err != nil {
						rec.fail(err)
						continue
					}
					rec.since(t0)
				}
			})
		}
		wg.Wait()
		return nil
	}
}

// result is one line of the table, as -json writes it.
type result struct {
	Name       string  `json:"name"` // the row's name for -only
	Row        string  `json:"row"`
	System     string  `json:"system"`
	Gossipsync bool    `json:"gossipsync"`
	Metric     string  `json:"metric"` // what the ratio divides: "ops/s" or "p50"
	N          int     `json:"n"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	OpsPerSec  float64 `json:"ops_per_sec,omitempty"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	// Ratio is the gossipsync baseline's figure ÷ this line's, and
	// VariantRatio that of the second gossipsync line, named Variant;
	// 0 where there is none.
	Ratio        float64 `json:"ratio,omitempty"`
	VariantRatio float64 `json:"variant_ratio,omitempty"`
	Variant      string  `json:"variant,omitempty"`
	Skipped      string  `json:"skipped,omitempty"`
	Note         string  `json:"note,omitempty"`
	// Idle holds an idle line's measures (the idle row).
	Idle *idleFigures `json:"idle,omitempty"`
	role role
}

func (r result) p50() time.Duration { return time.Duration(r.P50us * 1e3) }
func (r result) p99() time.Duration { return time.Duration(r.P99us * 1e3) }

// measureRow runs one row: it starts every system, warms each up, runs
// them alternately for the configured rounds and stops them.
func measureRow(ctx context.Context, e *env, r row, cfg config, log io.Writer) []result {
	fmt.Fprintf(log, "== %s\n", r.title)
	if r.custom != nil {
		out := r.custom(ctx, e, cfg, log)
		for i := range out {
			out[i].Name, out[i].Row = r.name, r.title
		}
		return out
	}
	type line struct {
		w   workload
		rec *recorder
		res result
		err error // the system stopped with this error
	}
	var lines, live []*line
	for _, s := range r.systems {
		l := &line{rec: &recorder{}, res: result{Name: r.name, Row: r.title, System: s.name, Gossipsync: s.role != peer, role: s.role}}
		lines = append(lines, l)
		fmt.Fprintf(log, "   start %s\n", s.name)
		var w workload
		var err error
		labelled(ctx, r.name, s.name, func(ctx context.Context) { w, err = s.start(ctx, e) })
		switch {
		case errors.Is(err, errSkip):
			l.res.Skipped = err.Error()
		case err != nil:
			l.res.Skipped = "failed: " + err.Error()
		default:
			l.w = w
			live = append(live, l)
		}
	}
	defer func() {
		for _, l := range live {
			if l.w.stop != nil {
				l.w.stop()
			}
		}
	}()
	rounds, slice := cfg.rounds, cfg.slice
	if r.oneOp {
		rounds, slice = max(rounds, r.minOps), 0
	} else if cfg.warmup > 0 {
		for _, l := range live {
			labelled(ctx, r.name, l.res.System, func(ctx context.Context) {
				l.err = l.w.run(ctx, time.Now().Add(cfg.warmup), &recorder{})
			})
		}
	}
	for i := range rounds {
		order := slices.Clone(live)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, l := range order {
			if l.err != nil || ctx.Err() != nil {
				continue
			}
			t0 := time.Now()
			labelled(ctx, r.name, l.res.System, func(ctx context.Context) {
				l.err = l.w.run(ctx, t0.Add(slice), l.rec)
			})
			l.rec.elapsed += time.Since(t0)
		}
		fmt.Fprintf(log, "   round %d/%d done\n", i+1, rounds)
	}
	var out []result
	for _, l := range lines {
		res := l.res
		res.Metric = map[metric]string{throughput: "ops/s", latency: "p50"}[r.metric]
		if l.w.run != nil {
			res.N = l.rec.count()
			res.Errors = l.rec.errs
			if l.rec.firstErr != nil {
				res.FirstError = l.rec.firstErr.Error()
			}
			var notes []string
			if k, apart := l.rec.samples(); apart {
				notes = append(notes, fmt.Sprintf("%d deliveries", k))
			}
			if l.w.note != nil && l.w.note() != "" {
				notes = append(notes, l.w.note())
			}
			if l.err != nil {
				notes = append(notes, "stopped: "+l.err.Error())
			}
			res.Note = strings.Join(notes, "; ")
			if r.metric == throughput && l.rec.elapsed > 0 {
				res.OpsPerSec = float64(res.N) / l.rec.elapsed.Seconds()
			}
			res.P50us = micros(l.rec.percentile(50))
			res.P99us = micros(l.rec.percentile(99))
		}
		out = append(out, res)
	}
	setRatios(out, r.metric)
	for _, res := range out {
		fmt.Fprintf(log, "   %-28s %s\n", res.System, summary(res))
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }

// labelled runs f with the profiler labels row and system, which the
// goroutines it starts inherit (a system's servers and nodes too, as
// they start in its start; a peer that rows share keeps the labels of
// the first), so that -cpuprofile can be read one system
// at a time: go tool pprof -tagfocus 'system=gossipsync, 3 nodes'.
func labelled(ctx context.Context, row, system string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("row", row, "system", system), f)
}

// setRatios fills Ratio and VariantRatio of the peers' lines.
func setRatios(rs []result, m metric) {
	figure := func(r result) float64 {
		if m == throughput {
			return r.OpsPerSec
		}
		return r.P50us
	}
	var base, vari float64
	var variantName string
	for _, r := range rs {
		if r.N == 0 {
			continue
		}
		switch r.role {
		case baseline:
			base = figure(r)
		case variant:
			vari = figure(r)
			variantName = strings.TrimPrefix(r.System, "gossipsync, ")
		}
	}
	for i := range rs {
		f := figure(rs[i])
		if rs[i].role != peer || rs[i].N == 0 || f == 0 {
			continue
		}
		rs[i].Ratio = base / f
		rs[i].VariantRatio = vari / f
		if vari > 0 {
			rs[i].Variant = variantName
		}
	}
}

// summary is a result in one line, for the progress log.
func summary(r result) string {
	if r.Skipped != "" {
		return r.Skipped
	}
	s := fmt.Sprintf("n=%d ops/s=%s p50=%v p99=%v", r.N, opsCell(r), fmtDur(r.p50()), fmtDur(r.p99()))
	if r.Errors > 0 {
		s += fmt.Sprintf(" errors=%d (first: %s)", r.Errors, r.FirstError)
	}
	if r.Ratio > 0 {
		s += fmt.Sprintf(" ratio=%.2f", r.Ratio)
	}
	return s
}

// allRows lists every row in the order they run.
func allRows() []row {
	return []row{
		uncontendedRow(),
		manyIDsRow(),
		contendedRow(),
		failoverRow(),
		resignRow(),
		tasksRow(),
		eventsRow(1),
		eventsRow(eventPublishersMany),
		timeRow(),
		idleRow(),
	}
}

func rowNames() []string {
	var names []string
	for _, r := range allRows() {
		names = append(names, r.name)
	}
	return names
}

func hasRow(name string) bool { return slices.Contains(rowNames(), name) }

func findRow(name string) row {
	for _, r := range allRows() {
		if r.name == name {
			return r
		}
	}
	panic("bench: no row " + name) // parseFlags checked the name
}

// listRows prints every row's name, title and setup.
func listRows(w io.Writer) {
	for _, r := range allRows() {
		fmt.Fprintf(w, "%s\n    %s\n", r.name, r.title)
		for _, line := range wrap(r.setup, 72) {
			fmt.Fprintf(w, "    %s\n", line)
		}
		var names []string
		for _, s := range r.systems {
			names = append(names, s.name)
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "    systems: %s\n", strings.Join(names, "; "))
		}
		fmt.Fprintln(w)
	}
}

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur string
	for _, word := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(word) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
