package realnet

import (
	"context"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// Replay makes the faults of schedule, at the same offsets from the
// first grant, on a simulated cluster of the suite's five nodes with
// its lock workload (sim.StartLocks's defaults are realproc's: two
// clients per node on three ids, a 1 s TTL, holds up to half of it),
// and returns the simulation's lock history and fault windows, for the
// same figures as the real run's. Partitions and one-way cuts
// black-hole streams, as the bridge does; loss delays streams by
// retransmissions. What the simulation does not do alike, so its
// figures are a comparison, not a prediction: a rolling restart crashes
// each node instead of stopping it gracefully; a SIGSTOP freezes the
// node's network but not its goroutines; the Fence is in-process, while
// the real store sits on the bridge with the first group of a
// partition and behind the same loss and delay; and the real nodes also
// run an election and a clock, whose traffic shares the links. After
// the schedule it runs until span. It runs in real time or, much faster,
// inside a testing/synctest bubble (sleep 10 s of virtual time after it
// returns there: memberlist's probes in flight end by their timeouts).
func Replay(ctx context.Context, schedule []Fault, span time.Duration, seed int64) (check.LockHistory, []Window, error) {
	c, err := sim.Start(ctx, sim.Options{Nodes: 5, Seed: seed, SecretKey: make([]byte, 32), Profile: cluster.Local})
	if err != nil {
		return check.LockHistory{}, nil, err
	}
	defer c.Close()
	c.Net().SetBlackHole(true)
	w, err := sim.StartLocks(c, sim.LockOptions{Seed: seed})
	if err != nil {
		return check.LockHistory{}, nil, err
	}
	defer w.Close()
	for len(w.History().Grants) == 0 {
		if ctx.Err() != nil {
			return check.LockHistory{}, nil, fmt.Errorf("realnet: replay: no first grant: %w", ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t0 := time.Now()
	var windows []Window
	for _, f := range schedule {
		time.Sleep(time.Until(t0.Add(f.At)))
		from := time.Now()
		if err := replayFault(ctx, c, f); err != nil {
			return check.LockHistory{}, nil, fmt.Errorf("realnet: replay %v: %w", f, err)
		}
		windows = append(windows, Window{What: f.Kind, From: from, To: time.Now().Add(2 * time.Second)})
	}
	time.Sleep(time.Until(t0.Add(span)))
	w.Close()
	return w.History(), windows, nil
}

// replayFault makes f on c and returns when it is over.
func replayFault(ctx context.Context, c *sim.Cluster, f Fault) error {
	switch f.Kind {
	case Kill:
		c.Crash(f.Node)
		time.Sleep(f.For)
		_, err := c.Restart(ctx, f.Node)
		return err
	case Stop:
		c.Pause(f.Node, f.For)
		time.Sleep(f.For)
	case Rolling:
		for _, name := range c.Names() {
			c.Crash(name)
			if _, err := c.Restart(ctx, name); err != nil {
				return err
			}
			time.Sleep(f.For)
		}
	case Majority, Isolated, NoMajority:
		c.Partition(f.Groups...)
		time.Sleep(f.For)
		c.Heal()
	case OneWay:
		for _, a := range f.Groups[0] {
			for _, b := range f.Groups[1] {
				c.Block(a, b)
			}
		}
		time.Sleep(f.For)
		c.Heal()
	case Loss:
		c.SetLoss(f.P)
		time.Sleep(f.For)
		c.SetLoss(0)
	case Delay:
		c.SetDelay(MinDelay, MaxDelay)
		time.Sleep(f.For)
		c.SetDelay(0, 0)
	default:
		return fmt.Errorf("no such fault kind %q", f.Kind)
	}
	return nil
}
