package lockmgr_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// A node with more waiters than a coordinator takes from it (128; each
// holds a handler slot of its connection, 256) queues the rest at the
// ring's owners, so the connections to the voters' leader keep serving:
// another id is granted at once meanwhile, and every waiter is served.
// With all 300 at the leader, the connection of each follower stopped
// reading, Raft messages included, and the leader stepped down.
func TestSimWaitersPastACoordinatorsShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		svc, release := voters.Acquire(e.c.Node("n1"))
		lead := svc.Info().Leader
		release()
		var waiter string // a node that is not the leader
		for _, n := range e.c.Names() {
			if n != lead {
				waiter = n
			}
		}
		holder, hh := e.acquire(t, lead, "x")
		const waiters = 300
		var wg sync.WaitGroup
		var mu sync.Mutex
		coords := map[string]int{}
		for range waiters {
			wg.Go(func() {
				l, err := e.m[waiter].Acquire(context.Background(), "x", lockmgr.TTL(testTTL), lockmgr.Wait(time.Minute))
				if err != nil {
					t.Errorf("waiter: %v", err)
					return
				}
				h := e.rec.add(waiter, l)
				mu.Lock()
				coords[lockmgr.Coordinator(l)]++
				mu.Unlock()
				e.rec.release(t, h, l)
			})
		}
		time.Sleep(time.Second) // every waiter queued
		start := time.Now()
		other, oh := e.acquire(t, waiter, "y")
		if d := time.Since(start); d > time.Second {
			t.Errorf("another id took %v with %d waiters queued", d, waiters)
		}
		e.rec.release(t, oh, other)
		if !holder.Valid() {
			t.Error("the holder lost its lease while the waiters queued")
		}
		e.rec.release(t, hh, holder)
		wg.Wait()
		t.Logf("waiters coordinated by %v (leader %s)", coords, lead)
		if coords[lead] > 128 || len(coords) < 2 {
			t.Errorf("coordinators %v: want at most 128 at the leader %s and the rest elsewhere", coords, lead)
		}
	})
}
