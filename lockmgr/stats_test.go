package lockmgr_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// waitLockStats polls m's Stats until cond holds, for up to 30 s of
// virtual time.
func waitLockStats(t *testing.T, m *lockmgr.Manager, what string, cond func(lockmgr.Stats) bool) lockmgr.Stats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := m.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v after 30 s", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stats counts grants, held locks, waiters, refusals, the acquisition
// latency and a lease lost to a partition.
func TestSimStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		ctx := context.Background()
		l, h := e.acquire(t, "n1", "s")
		s := e.m["n1"].Stats()
		if s.Held != 1 || s.Grants != 1 || s.Acquiring != 0 || s.AcquireLatency.Count != 1 {
			t.Errorf("after one Acquire: %+v, want Held 1, Grants 1, Acquiring 0, one latency", s)
		}
		if _, err := e.m["n2"].TryAcquire(ctx, "s", lockmgr.TTL(testTTL)); !errors.Is(err, lockmgr.ErrLocked) {
			t.Fatalf("TryAcquire of a held id = %v, want ErrLocked", err)
		}
		waiting := make(chan error, 1)
		go func() {
			_, err := e.m["n3"].Acquire(ctx, "s", lockmgr.TTL(testTTL), lockmgr.Wait(time.Second))
			waiting <- err
		}()
		waitLockStats(t, e.m["n3"], "a waiter", func(s lockmgr.Stats) bool { return s.Acquiring == 1 })
		if err := <-waiting; !errors.Is(err, lockmgr.ErrTimeout) {
			t.Fatalf("Acquire with Wait = %v, want ErrTimeout", err)
		}
		if s := e.m["n2"].Stats(); s.Locked != 1 || s.Grants != 0 || s.Held != 0 {
			t.Errorf("after a refused TryAcquire: %+v, want Locked 1, no grant", s)
		}
		if s := e.m["n3"].Stats(); s.Timeouts != 1 || s.Acquiring != 0 || s.AcquireLatency.Count != 0 {
			t.Errorf("after a timed-out Acquire: %+v, want Timeouts 1, Acquiring 0, no latency", s)
		}
		e.rec.release(t, h, l)
		waitLockStats(t, e.m["n1"], "after Release", func(s lockmgr.Stats) bool { return s.Held == 0 })
		if s := e.m["n1"].Stats(); s.LeaseLosses != 0 {
			t.Errorf("a Release counted as a lease loss: %+v", s)
		}

		l, _ = e.acquire(t, "n1", "s")
		e.c.Partition([]string{"n1"}, []string{"n2", "n3"})
		<-l.Done()
		s = waitLockStats(t, e.m["n1"], "after the holder was cut off", func(s lockmgr.Stats) bool { return s.Held == 0 })
		if s.LeaseLosses != 1 || s.Grants != 2 {
			t.Errorf("after the lease was lost: %+v, want LeaseLosses 1, Grants 2", s)
		}
		if _, err := e.m["n1"].TryAcquire(ctx, "t", lockmgr.TTL(testTTL)); !errors.Is(err, lockmgr.ErrNoQuorum) {
			t.Fatalf("TryAcquire on the minority side = %v, want ErrNoQuorum", err)
		}
		if s := e.m["n1"].Stats(); s.NoQuorum != 1 {
			t.Errorf("after ErrNoQuorum: %+v, want NoQuorum 1", s)
		}
		e.c.Heal()
	})
}
