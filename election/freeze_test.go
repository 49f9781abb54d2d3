package election_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/election"
)

// checkLease fails the test unless el's Valid reports want and Revoked
// is open exactly while the lease is valid.
func checkLease(t *testing.T, el *election.Elected, want bool, when string) {
	t.Helper()
	if got := el.Valid(); got != want {
		t.Errorf("%s: Valid() = %v, want %v", when, got, want)
	}
	revoked := false
	select {
	case <-el.Revoked():
		revoked = true
	default:
	}
	if revoked == want {
		t.Errorf("%s: Revoked closed = %v, want %v", when, revoked, !want)
	}
}

// A leader cut off right after it won renews nothing: its lease ends TTL
// after its claim was sent, and Valid and Revoked say so at that instant,
// not at the renew loop's next tick (a claim round trip later).
func TestValidAtLeaseEndUnderPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		// A short lease: it runs out before the cut is detected, so
		// only the lease's end can revoke it.
		els := electors(t, c, election.LeaseTTL(200*time.Millisecond))
		c.SetDelay(10*time.Millisecond, 10*time.Millisecond)
		el, err := els[0].Elect(context.Background(), "x")
		if err != nil {
			t.Fatal(err)
		}
		c.Partition([]string{"n1"}, []string{"n2", "n3"})
		end := election.LeaseEnd(el)
		time.Sleep(time.Until(end) - time.Millisecond)
		checkLease(t, el, true, "1ms before the lease's end")
		time.Sleep(time.Millisecond)
		checkLease(t, el, false, "at the lease's end")
	})
}

// freezeOnce returns a test hook that sleeps for d, once, the first time
// it is called at point, standing in for a process frozen there, and the
// channel that closes when that sleep is over.
func freezeOnce(point string, d time.Duration) (func(string), <-chan struct{}) {
	var armed atomic.Bool
	armed.Store(true)
	thawed := make(chan struct{})
	return func(p string) {
		if p == point && armed.CompareAndSwap(true, false) {
			time.Sleep(d)
			close(thawed)
		}
	}, thawed
}

// The renew loop freezes between a heartbeat round that a majority
// acknowledged and recording it, past the lease's end. Valid must turn
// false at the end all the same (and close Revoked), and the round, once
// recorded, must not revive the lease; the candidate can then win again.
func TestValidWhileRenewLoopFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ttl := election.DefaultLeaseTTL(c.Node("n1").Profile())
		hook, thawed := freezeOnce(election.HookRenewed, ttl+ttl/2)
		election.SetTestHook(els[0], hook)
		c.SetDelay(5*time.Millisecond, 5*time.Millisecond)
		ctx := context.Background()
		el, err := els[0].Elect(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		first := el.Term()
		end := election.LeaseEnd(el)
		time.Sleep(time.Until(end) - time.Millisecond)
		checkLease(t, el, true, "1ms before the lease's end")
		time.Sleep(time.Millisecond)
		checkLease(t, el, false, "at the lease's end, renew loop frozen")
		<-thawed
		synctest.Wait() // the renew loop has handled its round
		checkLease(t, el, false, "after the frozen round was recorded")
		if got := election.LeaseEnd(el); !got.Equal(end) {
			t.Errorf("the lease's end moved from %v to %v after it was over", end, got)
		}
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := el.Reelect(short); err != nil {
			t.Fatalf("Reelect after the frozen lease: %v", err)
		}
		checkLease(t, el, true, "after Reelect")
		if el.Term() <= first {
			t.Errorf("term after Reelect %d, want above %d", el.Term(), first)
		}
	})
}

// The process freezes between winning the claim and returning, past the
// lease's end. Elect (and Reelect) must not return that dead lease: they
// campaign again and return a valid one.
func TestElectNeverReturnsDeadLease(t *testing.T) {
	for _, call := range []string{"Elect", "Reelect"} {
		t.Run(call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startSim(t, 3)
				els := electors(t, c)
				ttl := election.DefaultLeaseTTL(c.Node("n1").Profile())
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var wins atomic.Int32
				hook, _ := freezeOnce(election.HookWon, ttl+ttl/4)
				var el *election.Elected
				if call == "Reelect" {
					var err error
					if el, err = els[0].Elect(ctx, "x"); err != nil {
						t.Fatal(err)
					}
					if err := el.Resign(ctx); err != nil {
						t.Fatal(err)
					}
				}
				election.SetTestHook(els[0], func(p string) {
					if p == election.HookWon {
						wins.Add(1)
					}
					hook(p)
				})
				var err error
				if call == "Elect" {
					el, err = els[0].Elect(ctx, "x")
				} else {
					err = el.Reelect(ctx)
				}
				if err != nil {
					t.Fatalf("%s: %v", call, err)
				}
				checkLease(t, el, true, call+" returned")
				synctest.Wait() // the renew loop has looked at the lease
				checkLease(t, el, true, call+" returned, renew loop started")
				if n := wins.Load(); n != 2 {
					t.Errorf("%s won %d claims, want 2: the first ran out while frozen", call, n)
				}
			})
		})
	}
}
