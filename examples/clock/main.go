// Clock shows synchronized time across gossipsync nodes in separate
// processes on loopback. Each node's physical clock is wrong on purpose:
// off by -skew and running fast or slow by -drift parts per million.
// Package clock gives the nodes one cluster time anyway, with an error
// bound, and hybrid logical clock (HLC) timestamps that respect
// causality.
//
// Run one node per terminal (Ctrl-C makes a node leave and exit):
//
//	go run ./examples/clock -name a -bind 127.0.0.1:7946 -key $KEY
//	go run ./examples/clock -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY -skew 3s -drift 300 -ping c
//	go run ./examples/clock -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY -skew -2s -drift -300
//
// or run it without flags: it starts a, b and c as child processes with
// those clocks, shows their output, and stops them once each has printed
// its readings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// clockFlags are the flags of this example, beyond those of every node.
type clockFlags struct {
	skew  time.Duration // of the physical clock
	drift float64       // of the physical clock, in ppm
	ping  string        // the node to send one ping, if any
}

func main() {
	var c clockFlags
	flag.DurationVar(&c.skew, "skew", 0, "how far this node's physical clock is off, e.g. 3s or -2s")
	flag.Float64Var(&c.drift, "drift", 0, "how fast this node's physical clock runs, in ppm (+300: 300 µs fast per second)")
	flag.StringVar(&c.ping, "ping", "", "a node to call once after sync, to show causal timestamps")
	demo.Main(launch, func(ctx context.Context, f demo.Flags) error { return runNode(ctx, f, c) })
}

// methodPing is the demo's RPC method: the callee prints the HLC
// timestamp it takes on receipt.
const methodPing = "demo.ping"

// runNode runs one node until ctx ends: it starts a Clock on a wrong
// physical clock, joins, waits until the Clock is synchronized, pings
// c.ping, and prints a reading every 500 ms for about 4 s. Then it
// closes the Clock, leaves the cluster and closes.
func runNode(ctx context.Context, f demo.Flags, c clockFlags) error {
	node, err := cluster.New(cluster.Config{
		Name:      f.Name,
		BindAddr:  f.Bind,
		SecretKey: f.Key,
		// Local: all nodes are on this machine, so the clocks sample the
		// reference every 100 ms, and the reference's election lease is
		// 1 s: a new cluster's first node waits two leases (2 s) for a
		// reference before it becomes one. Across machines use the
		// default profile, cluster.LAN: samples every second, lease 5 s.
		Profile: cluster.Local,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	phys := physical{start: time.Now(), skew: c.skew, ppm: c.drift}
	clk, err := clock.New(node, clock.Source(func() time.Time { return phys.at(time.Now()) }))
	if err != nil {
		return err
	}
	defer clk.Close()
	cluster.HandleFunc(node, methodPing, func(_ context.Context, from string, _ struct{}) (struct{}, error) {
		// The request's frame carried the caller's HLC timestamp, and
		// the clock took it in before this handler ran, if it reads:
		// until then its HLC counts only logically, from wall time 0,
		// and drops every stamp more than a minute ahead of that, so
		// the timestamp below would be smaller than the caller's. So
		// refuse until the clock reads; the caller retries. (A ping
		// that arrived in the microseconds just before the first
		// sample would still have lost its stamp.)
		if _, err := clk.Now(); err != nil {
			return struct{}{}, err
		}
		fmt.Printf("ping from %s: received at hlc %s\n", from, formatHLC(clk.Timestamp()))
		return struct{}{}, nil
	})
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())
	fmt.Printf("physical clock off by %s, drifting %+g ppm\n", signed(c.skew), c.drift)
	if err := demo.Join(ctx, node, f.Join); err != nil {
		return err
	}
	if err := show(ctx, node, clk, phys, c.ping); err != nil {
		return err
	}
	return shutdown(node, clk)
}

// show waits until the clock is synchronized, pings node to (if not
// ""), and prints the readings; then it waits for ctx to end.
func show(ctx context.Context, node *cluster.Node, clk *clock.Clock, phys physical, to string) error {
	if err := waitSynced(ctx, clk, phys.start); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while waiting
		}
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if to != "" {
		wg.Go(func() { ping(ctx, node, clk, to) })
	}
	printReadings(ctx, clk, phys)
	<-ctx.Done()
	return nil
}

// physical is a deliberately wrong physical clock: the machine's clock,
// off by skew and running faster by ppm parts per million since start.
type physical struct {
	start time.Time
	skew  time.Duration
	ppm   float64
}

// at returns the reading of the clock at true time t, given with its
// monotonic reading. The result drops it (Round(0)), as clock.Source asks,
// so that it compares by the time this clock shows.
func (p physical) at(t time.Time) time.Time {
	drift := time.Duration(float64(t.Sub(p.start)) * p.ppm / 1e6)
	return t.Round(0).Add(p.skew + drift)
}

// waitSynced waits until the clock has its first bound on cluster time
// (clk.Synced closes), printing first why it does not read yet.
func waitSynced(ctx context.Context, clk *clock.Clock, start time.Time) error {
	if _, err := clk.Now(); err != nil {
		if !errors.Is(err, clock.ErrUnsynced) {
			return err
		}
		fmt.Printf("waiting: %v\n", err)
		select {
		case <-clk.Synced():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := clk.Stats()
	if s.IsReference {
		fmt.Printf("synced after %v: this node is the reference; cluster time is its physical clock\n",
			time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Printf("synced after %v: reference %s, cluster time = physical %s\n",
		time.Since(start).Round(time.Millisecond), s.Reference, signed(s.Offset.Round(time.Microsecond)))
	return nil
}

// ping calls node to once, retrying every second until it answers (it
// may not have joined or synced yet) or ctx ends, and prints the HLC
// timestamp it took before sending. The callee's timestamp on receipt is
// greater: every RPC frame carries the sender's timestamp.
func ping(ctx context.Context, node *cluster.Node, clk *clock.Clock, to string) {
	for first := true; ; first = false {
		sent := clk.Timestamp()
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := node.Call(callCtx, to, methodPing, struct{}{}, nil)
		cancel()
		if err == nil {
			fmt.Printf("ping %s: sent at hlc %s\n", to, formatHLC(sent))
			return
		}
		if first {
			fmt.Printf("ping %s: %v; retrying every second\n", to, err)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
}

// shutdown closes the clock, so that another node can take over as the
// reference; then it leaves the cluster, so the others see a leave, not
// a failure, and closes.
func shutdown(node *cluster.Node, clk *clock.Clock) error {
	if err := clk.Close(); err != nil {
		return err
	}
	return demo.Leave(node)
}

// How often a node prints a reading once it is synced, and how many.
const (
	readEvery = 500 * time.Millisecond
	readings  = 8
)

// printReadings prints a reading every readEvery, readings times, then
// "done". The readings fall on the 500 ms marks of the machine's clock,
// so the nodes, all on this machine, read at the same instants and their
// lines can be set side by side. That is for the display only: package
// clock does not use the machine's clock, only each node's wrong one.
func printReadings(ctx context.Context, clk *clock.Clock, phys physical) {
	next := time.Now().Truncate(readEvery)
	for range readings {
		next = next.Add(readEvery)
		if !sleepUntil(ctx, next) {
			return
		}
		r, err := read(clk, phys)
		if err != nil {
			fmt.Printf("reading: %v\n", err)
			continue
		}
		fmt.Println(r)
	}
	fmt.Println("done")
}

// sleepUntil waits until the machine's clock reads t, or ctx ends.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// reading is what a node knows of time at one instant.
type reading struct {
	truth   time.Time       // the machine's clock, which the physical clocks are made from
	phys    time.Time       // this node's wrong physical clock
	cluster time.Time       // Clock.Now
	u       time.Duration   // the uncertainty of Clock.Interval
	ref     string          // the reference, "-" if none is known
	hlc     clock.Timestamp // Clock.Timestamp
}

// timeOfDay formats times to the microsecond.
const timeOfDay = "15:04:05.000000"

// String shows the reading on one line. cluster-true is how far cluster
// time is from the machine's clock: the nodes read at slightly different
// instants, so that is what to compare between them.
func (r reading) String() string {
	return fmt.Sprintf("phys %s  cluster %s ±%3dµs  cluster-true %+5dµs  ref %s  hlc %s",
		r.phys.Format(timeOfDay), r.cluster.Format(timeOfDay), r.u.Microseconds(),
		r.cluster.Sub(r.truth).Microseconds(), r.ref, formatHLC(r.hlc))
}

// signed formats d with its sign, e.g. +3s.
func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// formatHLC shows a timestamp's wall time as a time of day, to the
// nanosecond, then its logical counter.
func formatHLC(ts clock.Timestamp) string {
	return fmt.Sprintf("%s,%d", ts.Time().Format("15:04:05.000000000"), ts.Logical)
}

// maxGap bounds how long taking a reading may last; one that took longer
// (the process was preempted) is taken again, so that the true time it
// shows is that of its cluster time within maxGap/2.
const maxGap = 20 * time.Microsecond

// read takes a reading. The Clock has no call that returns a time and
// its bound together, so it calls Interval and Now back to back.
func read(clk *clock.Clock, phys physical) (reading, error) {
	for try := 1; ; try++ {
		t0 := time.Now()
		iv, err := clk.Interval()
		if err != nil {
			return reading{}, err
		}
		now, err := clk.Now()
		if err != nil {
			return reading{}, err
		}
		gap := time.Since(t0)
		if gap > maxGap && try < 10 {
			continue
		}
		ref := clk.Stats().Reference
		if ref == "" {
			ref = "-" // between references: the bound grows until the next one
		}
		t := t0.Add(gap / 2)
		return reading{truth: t, phys: phys.at(t), cluster: now, u: iv.Uncertainty(), ref: ref, hlc: clk.Timestamp()}, nil
	}
}
