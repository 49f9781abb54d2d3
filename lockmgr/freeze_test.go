package lockmgr_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// A holder whose renew loop is frozen past the lease's end (as a process
// resumed from SIGSTOP runs its own goroutines before its timers) learns
// from Valid that the lock is gone, exactly at Deadline, and Valid closes
// Done. A renewal sent after the thaw does not bring the lock back.
func TestSimValidAfterFrozenRenewals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		var froze atomic.Int32
		lockmgr.SetBeforeRenew(e.m["n1"], func() {
			if froze.Add(1) == 1 {
				time.Sleep(2 * testTTL) // the renew loop is frozen
			}
		})
		l, h := e.acquire(t, "n1", "frozen")
		deadline := l.Deadline()
		if left := time.Until(deadline); left <= 0 || left > testTTL {
			t.Fatalf("Deadline %v from now; want within (0, TTL]", left)
		}
		time.Sleep(time.Until(deadline) - time.Millisecond)
		if !l.Valid() {
			t.Fatalf("Valid false 1 ms before the lease's end")
		}
		time.Sleep(time.Millisecond) // now exactly at the lease's end
		if l.Valid() {
			t.Fatalf("Valid true at the lease's end, with renewals frozen")
		}
		select {
		case <-l.Done():
		default:
			t.Fatalf("Done open after Valid returned false")
		}
		e.rec.end(h)
		time.Sleep(2 * testTTL) // the renew loop thaws and sends its renewal
		if l.Valid() {
			t.Errorf("Valid true again after the frozen renewal loop resumed")
		}
		if err := l.Release(context.Background()); !errors.Is(err, lockmgr.ErrNotHeld) {
			t.Errorf("Release after the lease ran out = %v, want ErrNotHeld", err)
		}
		// Another node gets the id, with a higher token.
		l2, h2 := e.acquire(t, "n2", "frozen")
		if l2.Token() <= l.Token() {
			t.Errorf("next token %d not above %d", l2.Token(), l.Token())
		}
		e.rec.release(t, h2, l2)
	})
}

// An Acquire whose process froze between the grant and its return never
// returns a dead lock. A grant late in its lease is renewed once before
// Acquire returns; one past its lease was expired by the voters (or
// another waiter got the id meanwhile), so the renewal fails, and Acquire
// queues again for a new grant (TryAcquire: ErrLocked when another
// holder has it).
func TestSimAcquireNeverReturnsDeadLock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		freeze    time.Duration
		contender bool // n3 waits for the id during the freeze
		try       bool
		grants    int32 // grants n2 gets until Acquire returns
	}{
		{name: "late", freeze: 3 * testTTL / 4, grants: 1},
		{name: "dead/alone", freeze: 2 * testTTL, grants: 2},
		{name: "dead/contended", freeze: 2 * testTTL, contender: true, grants: 2},
		{name: "dead/contended/try", freeze: 2 * testTTL, contender: true, try: true, grants: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := startEnv(t, 3)
				const id = "late"
				var grants atomic.Int32
				lockmgr.SetAfterGrant(e.m["n2"], func() {
					if grants.Add(1) == 1 {
						time.Sleep(tc.freeze) // frozen after the grant
					}
				})
				type result struct {
					l   *lockmgr.Lock
					err error
				}
				got := make(chan result, 1)
				go func() {
					acq := e.m["n2"].Acquire
					if tc.try {
						acq = e.m["n2"].TryAcquire
					}
					l, err := acq(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(30*time.Second))
					got <- result{l, err}
				}()
				var other *lockmgr.Lock
				if tc.contender {
					time.Sleep(testTTL / 10) // n2 holds the grant, frozen
					var oh *hold
					other, oh = e.acquire(t, "n3", id)
					time.Sleep(tc.freeze) // n2 thaws, finds the id taken
					e.rec.release(t, oh, other)
				}
				r := <-got
				if n := grants.Load(); n != tc.grants {
					t.Errorf("n2 got %d grants; want %d", n, tc.grants)
				}
				if tc.try {
					if !errors.Is(r.err, lockmgr.ErrLocked) {
						t.Fatalf("TryAcquire after the id was taken during a freeze = %v, want ErrLocked", r.err)
					}
					return
				}
				if r.err != nil {
					t.Fatalf("Acquire: %v", r.err)
				}
				l, h := r.l, e.rec.add("n2", r.l)
				if other != nil && l.Token() <= other.Token() {
					t.Errorf("token %d not above the contender's %d", l.Token(), other.Token())
				}
				synctest.Wait() // let the renew loop run, as it would
				select {
				case <-l.Done():
					t.Fatalf("Acquire returned a lock whose Done is closed")
				default:
				}
				if left := time.Until(l.Deadline()); !l.Valid() || left < testTTL/2 {
					t.Fatalf("Acquire returned a lock with %v of its lease left (Valid %v); want over TTL/2", left, l.Valid())
				}
				time.Sleep(2 * testTTL) // held across renewals
				if !l.Valid() {
					t.Errorf("lock lost while renewing")
				}
				e.rec.release(t, h, l)
			})
		})
	}
}
