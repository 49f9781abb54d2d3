package election_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/sim"
)

// deadlineNet is a network condition of the deadline tests.
type deadlineNet struct {
	name string
	set  func(c *sim.Cluster)
	// cut: 3 ms before the caller's deadline, cut its node off from
	// every other node (in flight: connections reset, dials hang).
	cut bool
}

// deadlineNets are the networks the deadline tests put the calls under.
// They are set after a test's set-up: a set-up call has no deadline,
// and under 20 % loss a stream's lost segment waits 200 ms or more for
// its retransmission, longer than a try of Do (a third of the 500 ms
// a claim is given), so a claim may retry for long.
func deadlineNets() []deadlineNet {
	return []deadlineNet{
		{"loss and delay", func(c *sim.Cluster) {
			c.SetLoss(0.2)
			c.SetDelay(5*time.Millisecond, 10*time.Millisecond)
		}, false},
		{"cut from the majority before the deadline", func(c *sim.Cluster) {
			c.SetLoss(0.2)
			c.SetDelay(10*time.Millisecond, 10*time.Millisecond)
		}, true},
	}
}

// lateBy is how far past its deadline a call may return: nothing, on a
// virtual clock, but what runs in the same instant.
const lateBy = time.Millisecond

// byDeadline calls call with a ctx that ends d from now, cutting node off
// 3 ms before the deadline if cut, and fails the test if call returns
// later than lateBy after the deadline. It returns call's error.
func byDeadline(t *testing.T, c *sim.Cluster, node string, cut bool, d time.Duration, call func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	deadline, _ := ctx.Deadline()
	if cut {
		var others []string
		for _, n := range c.Names() {
			if n != node {
				others = append(others, n)
			}
		}
		timer := time.AfterFunc(d-3*time.Millisecond, func() { c.Partition([]string{node}, others) })
		defer timer.Stop()
	}
	err := call(ctx)
	if late := time.Since(deadline); late > lateBy {
		t.Errorf("returned %v after its deadline (error %v)", late, err)
	}
	return err
}

// A higher candidate's Elect behind a live leader sends a claim that the
// voters refuse (asking the leader to step down) and frees what it got.
// Its deadline falls during that claim or the release after it; it must
// return at the deadline, with the release going on in the background.
func TestElectReturnsByDeadline(t *testing.T) {
	for _, nc := range deadlineNets() {
		t.Run(nc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startSim(t, 5)
				els := electors(t, c)
				if _, err := els[0].Elect(context.Background(), "low"); err != nil {
					t.Fatal(err)
				}
				nc.set(c)                          // after the set-up, whose calls have no deadline (see deadlineNets)
				time.Sleep(100 * time.Millisecond) // every voter holds the lease
				err := byDeadline(t, c, "n5", nc.cut, 15*time.Millisecond, func(ctx context.Context) error {
					_, err := els[4].Elect(ctx, "high")
					return err
				})
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Elect = %v, want DeadlineExceeded", err)
				}
			})
		})
	}
}

// Reelect after a lower candidate took over runs the same claim as Elect
// and must return by its deadline too.
func TestReelectReturnsByDeadline(t *testing.T) {
	for _, nc := range deadlineNets() {
		t.Run(nc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startSim(t, 5)
				els := electors(t, c)
				ctx := context.Background()
				high, err := els[4].Elect(ctx, "high")
				if err != nil {
					t.Fatal(err)
				}
				won := make(chan error, 1)
				go func() {
					_, err := els[0].Elect(ctx, "low")
					won <- err
				}()
				synctest.Wait() // low campaigns behind high
				if err := high.Resign(ctx); err != nil {
					t.Fatal(err)
				}
				if err := <-won; err != nil {
					t.Fatal(err)
				}
				nc.set(c)
				time.Sleep(100 * time.Millisecond) // every voter holds low's lease
				err = byDeadline(t, c, "n5", nc.cut, 15*time.Millisecond, high.Reelect)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Reelect = %v, want DeadlineExceeded", err)
				}
			})
		})
	}
}

// Resign returns by its deadline, and Revoked is closed when it returns,
// even when the release cannot reach the voters and the renew loop is in
// the middle of a round that hangs.
func TestResignReturnsByDeadline(t *testing.T) {
	nets := append(deadlineNets(), deadlineNet{"cut off while a heartbeat round hangs", func(c *sim.Cluster) {
		c.SetDelay(10*time.Millisecond, 10*time.Millisecond)
		c.Partition([]string{"n3"}, []string{"n1", "n2"})
	}, false})
	for _, nc := range nets {
		t.Run(nc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startSim(t, 3)
				els := electors(t, c)
				el, err := els[2].Elect(context.Background(), "x")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				nc.set(c)
				// A heartbeat round started after a cut hangs for its
				// whole quarter lease.
				time.Sleep(election.DefaultLeaseTTL(c.Node("n3").Profile())/4 + 10*time.Millisecond)
				byDeadline(t, c, "n3", nc.cut, 15*time.Millisecond, el.Resign)
				checkLease(t, el, false, "Resign returned")
			})
		})
	}
}

// Leader answers at once and Follow's channel closes by ctx's deadline.
func TestLeaderAndFollowReturnByDeadline(t *testing.T) {
	for _, nc := range deadlineNets() {
		t.Run(nc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startSim(t, 5)
				els := electors(t, c)
				if _, err := els[4].Elect(context.Background(), "x"); err != nil {
					t.Fatal(err)
				}
				nc.set(c)
				time.Sleep(100 * time.Millisecond)
				byDeadline(t, c, "n1", nc.cut, 15*time.Millisecond, func(ctx context.Context) error {
					_, err := els[0].Leader(ctx)
					return err
				})
				byDeadline(t, c, "n1", nc.cut, 15*time.Millisecond, func(ctx context.Context) error {
					for range els[0].Follow(ctx) {
					}
					return nil
				})
			})
		})
	}
}
