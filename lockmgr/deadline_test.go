package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// Acquire returns by its caller's deadline, also when the clean-up after
// giving up (telling the coordinator, freeing a grant it may have left)
// meets a slow or cut network: that clean-up goes on in the background.
// In virtual time a late return shows exactly; on main it came back one
// or two slow calls (up to TTL/4 each) after the deadline. When the
// caller coordinates the id itself, the deadline is moved across a
// quarter TTL in 16 steps, so that some fall inside a claim round of the
// coordinator (which does not end with the caller's ctx).
func TestSimAcquireReturnsByDeadline(t *testing.T) {
	type testCase struct {
		name  string
		wait  bool // the deadline is the Wait option's, not ctx's
		cut   bool // cut the caller off just before its deadline
		local bool // the caller coordinates the id itself
		shift time.Duration
	}
	cases := []testCase{
		{name: "loss"},
		{name: "loss/wait", wait: true},
		{name: "cut", cut: true},
		{name: "cut/wait", wait: true, cut: true},
	}
	for i := range 16 {
		shift := time.Duration(i) * testTTL / 64
		cases = append(cases,
			testCase{name: fmt.Sprintf("local/loss/+%v", shift), local: true, shift: shift},
			testCase{name: fmt.Sprintf("local/cut/+%v", shift), local: true, cut: true, shift: shift})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := startEnv(t, 5)
				coord := "n3"
				if tc.local {
					coord = "n5"
				}
				id := idOwnedBy(t, e, coord)
				held, hh := e.acquire(t, "n1", id)
				e.c.SetLoss(0.2)
				e.c.SetDelay(2*time.Millisecond, 8*time.Millisecond)
				limit := 3*testTTL/4 + tc.shift
				deadline := time.Now().Add(limit)
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				opts := []lockmgr.AcquireOption{lockmgr.TTL(testTTL)}
				if tc.wait {
					ctx = context.Background()
					opts = append(opts, lockmgr.Wait(limit))
				}
				if tc.cut {
					time.AfterFunc(limit-5*time.Millisecond, func() {
						e.c.Partition([]string{"n5"}, []string{"n1", "n2", "n3", "n4"})
					})
				}
				got, err := e.m["n5"].Acquire(ctx, id, opts...)
				if late := time.Since(deadline); late > time.Millisecond {
					t.Errorf("Acquire returned %v after its deadline", late)
				}
				e.c.Heal()
				e.c.SetLoss(0)
				e.c.SetDelay(0, 0)
				// A lost segment delays a stream by 200 ms or more,
				// so under this loss the holder's renewals may miss
				// its 400 ms lease: then, and only then, the waiter
				// may win before its deadline.
				e.rec.end(hh)
				lost := false
				if err := held.Release(context.Background()); err != nil {
					if !errors.Is(err, lockmgr.ErrNotHeld) {
						t.Errorf("n1 release: %v", err)
					}
					lost = true
				}
				want := context.DeadlineExceeded
				if tc.wait {
					want = lockmgr.ErrTimeout
				}
				switch {
				case err == nil && !lost:
					t.Errorf("Acquire won while n1 still held the lock")
				case err == nil:
					got.Release(context.Background())
				case !errors.Is(err, want):
					t.Errorf("Acquire = %v, want %v", err, want)
				}
				// The abandoned waiter was dropped: the id is free
				// for the next one, once the voters hear each other
				// again (a stream that lost segments may still wait
				// for a backed-off retransmission after the loss
				// ends, and Acquire fails fast with ErrNoQuorum
				// meanwhile; a waiter left behind would instead make
				// it wait and time out).
				var l *lockmgr.Lock
				for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
					l, err = e.m["n2"].Acquire(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(30*time.Second))
					if err == nil {
						break
					}
					if !errors.Is(err, lockmgr.ErrNoQuorum) || time.Since(start) > time.Minute {
						t.Fatalf("n2 Acquire(%q): %v", id, err)
					}
				}
				e.rec.releaseLapsed(t, e.rec.add("n2", l), l)
			})
		})
	}
}
