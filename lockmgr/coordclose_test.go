package lockmgr_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// A waiter queued at a coordinator whose last Manager closes (its node
// is leaving) is not failed: it asks the next coordinator and gets the
// lock there once the holder releases.
func TestSimWaiterMovesOnWhenCoordinatorCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		id := idOwnedBy(t, e, "n2")
		l, h := e.acquire(t, "n1", id)
		got := make(chan error, 1)
		go func() {
			l3, err := e.m["n3"].Acquire(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(30*time.Second))
			if err == nil {
				e.rec.release(t, e.rec.add("n3", l3), l3)
			}
			got <- err
		}()
		time.Sleep(testTTL / 4) // n3 waits at n2
		e.m["n2"].Close()
		e.rec.release(t, h, l)
		if err := <-got; err != nil {
			t.Fatalf("the waiter at a closed coordinator: Acquire = %v, want the lock from the next one", err)
		}
	})
}
