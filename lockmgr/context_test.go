package lockmgr_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// Lock.Context ends with the lock: when its lease runs out in a
// minority, and when it is released, with ErrNotHeld and why as cause.
func TestSimLockContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		l, h := e.acquire(t, "n1", "a")
		ctx := l.Context()
		if err := ctx.Err(); err != nil {
			t.Fatalf("Context of a held lock: %v", err)
		}
		if _, ok := ctx.Deadline(); ok {
			t.Error("Context has a deadline; renewals move the lease's end, so it must have none")
		}
		e.c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		cut := time.Now()
		<-ctx.Done()
		e.rec.end(h)
		if d := time.Since(cut); d > testTTL {
			t.Errorf("Context ended %v after the cut; want within the %v lease", d, testTTL)
		}
		if c := context.Cause(ctx); !errors.Is(c, lockmgr.ErrLeaseExpired) || !errors.Is(c, lockmgr.ErrNotHeld) {
			t.Errorf("cause %v; want ErrLeaseExpired, which is ErrNotHeld too", c)
		}
		if err := l.Release(context.Background()); !errors.Is(err, lockmgr.ErrLeaseExpired) {
			t.Errorf("Release after the lease ran out: %v; want ErrLeaseExpired", err)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err %v; want Canceled", ctx.Err())
		}
		e.c.Heal()
		l2, h2 := e.acquire(t, "n3", "b")
		e.rec.release(t, h2, l2)
		if c := context.Cause(l2.Context()); !errors.Is(c, lockmgr.ErrNotHeld) || errors.Is(c, lockmgr.ErrLeaseExpired) {
			t.Errorf("cause after Release %v; want ErrNotHeld, not ErrLeaseExpired", c)
		}
		if err := l2.Release(context.Background()); !errors.Is(err, lockmgr.ErrNotHeld) || errors.Is(err, lockmgr.ErrLeaseExpired) {
			t.Errorf("second Release: %v; want ErrNotHeld, not ErrLeaseExpired", err)
		}
	})
}
