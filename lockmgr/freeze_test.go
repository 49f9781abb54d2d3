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

// An Acquire whose process froze between the grant and its return past
// the lease's end never returns that dead lock: it frees the grant and
// queues again, and returns a lock that is valid and stays held.
func TestSimAcquireNeverReturnsDeadLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		var grants atomic.Int32
		lockmgr.SetAfterGrant(e.m["n2"], func() {
			if grants.Add(1) == 1 {
				time.Sleep(2 * testTTL) // frozen after the grant
			}
		})
		begin := time.Now()
		l, h := e.acquire(t, "n2", "late")
		// The dead grant was freed at once: the second claim did not
		// wait for it to expire at the acceptors (1.25 TTL).
		if d := time.Since(begin) - 2*testTTL; d > testTTL/4 {
			t.Errorf("Acquire took %v past the freeze; want under TTL/4", d)
		}
		synctest.Wait() // let the renew loop run, as it would
		select {
		case <-l.Done():
			t.Fatalf("Acquire returned a lock whose Done is closed")
		default:
		}
		if !l.Valid() || !time.Now().Before(l.Deadline()) {
			t.Fatalf("Acquire returned a lock that is not valid (Deadline %v ago)", time.Since(l.Deadline()))
		}
		if g := grants.Load(); g != 2 {
			t.Errorf("%d grants; want 2 (the dead one, then the one returned)", g)
		}
		time.Sleep(2 * testTTL) // held across renewals
		if !l.Valid() {
			t.Errorf("lock lost while renewing")
		}
		e.rec.release(t, h, l)
	})
}
