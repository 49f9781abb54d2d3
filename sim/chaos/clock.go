package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// The clock workload: every alive node runs a clock.Clock on its skewed,
// drifting physical clock for the whole run; an observer reads them all
// every observeEvery and the checker judges the readings against C1-C3.
const (
	observeEvery = 100 * time.Millisecond
	maxSkewFlag  = 24 * time.Hour
	// clockDrift is the drift, in ppm, that the cluster clocks assume
	// by default: clock's MaxDrift of 2000 ppm covers two physical
	// clocks within ±1000 ppm. A run with more tells them (clockOptions).
	clockDrift = 1000
	// maxDriftFlag is ±20 %: far past the bound the leases assume (rates
	// within about 10 % of each other), so that a run can show what
	// breaks there.
	maxDriftFlag = 200_000
	// maxClockDrift is the most clock.MaxDrift takes: 10 %.
	maxClockDrift = 100_000
)

// clockOptions returns the options of the cluster clocks for physical
// clocks within ±ppm: none within clockDrift, else MaxDrift for two such
// clocks, at most maxClockDrift. The drift bound is on the rate of the
// offset measured on the local clock, (1+d)/(1-d) - 1 = 2d/(1-d) for
// two clocks at +d and -d: at ±4 % that is 8.33 %, and 8 % let C1 and
// C3 break by tens of microseconds. Beyond maxClockDrift the clocks
// assume less drift than there is, as the leases do, and the report
// shows what breaks.
func clockOptions(ppm float64) []clock.Option {
	if ppm <= clockDrift {
		return nil
	}
	return []clock.Option{clock.MaxDrift(clockMaxDrift(ppm) * 1e6)}
}

// clockMaxDrift is the MaxDrift, as a fraction, of the cluster clocks
// for physical clocks within ±ppm (see clockOptions).
func clockMaxDrift(ppm float64) float64 {
	if ppm <= clockDrift {
		return 2 * clockDrift / 1e6
	}
	d := ppm / 1e6
	return min(math.Ceil(2*d/(1-d)*1e6), maxClockDrift) / 1e6
}

// nodeNames returns the names sim.Start gives n nodes: n1..nN.
func nodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// physClock is the skew and drift given to one node's physical clock.
type physClock struct {
	Node string
	Skew time.Duration // offset from real time
	PPM  float64       // rate error, whole parts per million
}

// drawPhysClocks draws for each node, from seed, a skew uniform in ±skew
// and a drift uniform in ±ppm. The draws are truncated (toward zero) to
// the precision physLine prints, so what it prints is what is set.
func drawPhysClocks(seed int64, names []string, skew time.Duration, ppm float64) []physClock {
	rng := rand.New(rand.NewPCG(uint64(seed), clockStream))
	unit := skewUnit(skew)
	out := make([]physClock, len(names))
	for i, name := range names {
		s := time.Duration((2*rng.Float64() - 1) * float64(skew)).Truncate(unit)
		d := math.Trunc((2*rng.Float64() - 1) * ppm)
		if d == 0 {
			d = 0 // not -0, which prints as -0ppm
		}
		out[i] = physClock{Node: name, Skew: s, PPM: d}
	}
	return out
}

// skewUnit is the precision of skews drawn in ±skew: 10 ms for seconds.
func skewUnit(skew time.Duration) time.Duration {
	switch {
	case skew >= time.Second:
		return 10 * time.Millisecond
	case skew >= 10*time.Millisecond:
		return time.Millisecond
	}
	return time.Microsecond
}

// setPhysClocks gives each node its skew and drift.
func setPhysClocks(c *sim.Cluster, phys []physClock) {
	for _, p := range phys {
		c.SetSkew(p.Node, p.Skew)
		c.SetDrift(p.Node, p.PPM)
	}
}

// physLine describes the physical clocks on one line:
// "physical clocks (skew ±5s, drift ±200ppm): n1 +3.21s -57ppm, ...".
func physLine(skew time.Duration, ppm float64, phys []physClock) string {
	if skew == 0 && ppm == 0 {
		return "physical clocks: no skew, no drift"
	}
	ranges := []string{"no skew", "no drift"}
	if skew > 0 {
		ranges[0] = "skew ±" + fmtSpan(skew)
	}
	if ppm > 0 {
		ranges[1] = fmt.Sprintf("drift ±%gppm", ppm)
	}
	each := make([]string, len(phys))
	for i, p := range phys {
		each[i] = p.Node
		if skew > 0 {
			each[i] += " " + fmtSigned(p.Skew)
		}
		if ppm > 0 {
			each[i] += fmt.Sprintf(" %+.0fppm", p.PPM)
		}
	}
	return fmt.Sprintf("physical clocks (%s): %s", strings.Join(ranges, ", "), strings.Join(each, ", "))
}

// fmtSigned formats d with its sign: +3.21s, -870ms, +0s.
func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "-" + (-d).String()
	}
	return "+" + d.String()
}

// observer reads every clock of a workload every observeEvery, which
// feeds the workload's checker, and notes each reference it sees and
// the readings as the checker judges them, for the -html timeline.
type observer struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // protects the fields below
	refs   []check.Reading
	judged [][]check.ClockPoint // the readings of one observation in every keep
	keep   int                  // observations per element of judged; 0 = 1
	seen   int                  // observations
}

// maxJudged bounds the observations the observer keeps for the timeline:
// past it, it keeps every other one and from then on one in twice as
// many. A run of 60 s keeps them all.
const maxJudged = 4096

// startObserver reads w's clocks now and then every `every` until its
// stop is called (once).
func startObserver(w *sim.ClockWorkload, every time.Duration) *observer {
	ctx, cancel := context.WithCancel(context.Background())
	o := &observer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			o.note(w.Observe())
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return o
}

func (o *observer) note(rs []check.Reading) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.keepJudged(rs)
	ref := referenceOf(rs)
	if ref.Node == "" {
		return
	}
	if n := len(o.refs); n == 0 || o.refs[n-1].Node != ref.Node || o.refs[n-1].Stats.Term != ref.Stats.Term {
		o.refs = append(o.refs, ref)
	}
}

// stop ends the observation, waits for the last one and returns the
// references seen, in order.
func (o *observer) stop() []check.Reading {
	o.cancel()
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refs
}

// keepJudged keeps the readings of an observation, judged, if it is one
// of those kept; o.mu is held.
func (o *observer) keepJudged(rs []check.Reading) {
	o.seen++
	if o.seen%max(o.keep, 1) != 0 {
		return
	}
	o.judged = append(o.judged, check.ClockSeries(rs))
	if len(o.judged) > maxJudged {
		half := o.judged[:0]
		for i := 1; i < len(o.judged); i += 2 {
			half = append(half, o.judged[i])
		}
		clear(o.judged[len(half):]) // let the dropped ones go
		o.judged = half
		o.keep = 2 * max(o.keep, 1)
	}
}

// series returns the readings kept so far, judged, in order.
func (o *observer) series() []check.ClockPoint {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Concat(o.judged...)
}

// referenceOf returns the reading of the reference among rs: the node
// that reads as the reference, with the highest term if more than one
// does. Its Node is "" if none does.
func referenceOf(rs []check.Reading) check.Reading {
	var ref check.Reading
	for _, r := range rs {
		if r.Err == nil && r.Stats.IsReference && (ref.Node == "" || r.Stats.Term > ref.Stats.Term) {
			ref = r
		}
	}
	return ref
}

func referenceLine(ref check.Reading) string {
	if ref.Node == "" {
		return "no clock reference"
	}
	return fmt.Sprintf("clock reference %s term %d", ref.Node, ref.Stats.Term)
}

// readAlive reads the clock of every alive node; a node whose clock has
// not started yet reads as unsynced.
func (r *runner) readAlive() []check.Reading {
	nodes := r.c.Nodes()
	rs := make([]check.Reading, len(nodes))
	for i, n := range nodes {
		if clk := r.clocks.Clock(n.Name()); clk != nil {
			rs[i] = sim.Read(n.Name(), clk)
		} else {
			rs[i] = check.Reading{Node: n.Name(), Err: clock.ErrUnsynced}
		}
	}
	return rs
}

// reference returns the current reference's reading; Node is "" if none.
func (r *runner) reference() check.Reading { return referenceOf(r.readAlive()) }

// isReference reports whether node's clock is the reference, and its term.
func (r *runner) isReference(node string) (bool, uint64) {
	clk := r.clocks.Clock(node)
	if clk == nil {
		return false, 0
	}
	s := clk.Stats()
	return s.IsReference, s.Term
}

// waitReference polls every pollEvery for a reference, up to d or until
// ctx ends.
func (r *runner) waitReference(ctx context.Context, d time.Duration) (check.Reading, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if ref := r.reference(); ref.Node != "" {
			return ref, true
		}
		select {
		case <-ctx.Done():
			return check.Reading{}, false
		case <-tick.C:
		}
	}
}

// clockSync is the clocks of the alive nodes at one instant.
type clockSync struct {
	Ref    check.Reading // the reference's reading; Node is "" if there is none
	OK     bool          // every alive clock reads without error on Ref's term
	Synced int           // alive clocks that read without error on Ref's term
	Alive  int           // alive nodes
	Took   time.Duration // waitClockSync: from its t0 to OK, or to giving up
}

// clockSynced reads every alive clock now.
func (r *runner) clockSynced() clockSync {
	rs := r.readAlive()
	s := clockSync{Ref: referenceOf(rs), Alive: len(rs)}
	for _, rd := range rs {
		if s.Ref.Node != "" && rd.Err == nil && rd.Stats.Term == s.Ref.Stats.Term {
			s.Synced++
		}
	}
	s.OK = s.Synced == s.Alive && s.Alive > 0
	return s
}

// waitClockSync polls every pollEvery until every alive clock reads
// without error on the reference's term, or until d after t0 or ctx
// ends.
func (r *runner) waitClockSync(ctx context.Context, t0 time.Time, d time.Duration) clockSync {
	ctx, cancel := context.WithDeadline(ctx, t0.Add(d))
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		s := r.clockSynced()
		s.Took = time.Since(t0)
		if s.OK {
			return s
		}
		select {
		case <-ctx.Done():
			return s
		case <-tick.C:
		}
	}
}

// showFirstSync prints how the clocks first synced, and a blank line.
func (r *runner) showFirstSync(s clockSync) {
	r.first = s
	r.shownRef = referenceLine(s.Ref)
	r.out.printf("clock: %s\n\n", newClockSync(s).line("the start"))
}

// stopClocks stops the observer and the clocks and returns the clock
// section of the report.
func (r *runner) stopClocks(phases []phaseResult, final clockSync) clockRecord {
	refs := r.observer.stop()
	rep := clockRecord{Check: r.clocks.Check(), References: refs, First: r.first, Final: final}
	r.clocks.Close()
	for _, p := range phases {
		if p.RefCrash {
			rep.Crashes = append(rep.Crashes, p)
		}
	}
	return rep
}
