package events_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// A group hands each event to one member at a time: two members ack what
// they get, a third takes two events and never acks them (it stopped
// mid-work); after AckWait the group hands those two out again, and in
// the end every event was acked once (S3).
func TestGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 4)
		ss := streams(t, c)
		for i := range 30 {
			if _, err := ss["n1"].Publish(ctxFor(t, 30*time.Second), "jobs", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		join := func(node string) *events.Subscription {
			sub, err := ss[node].Subscribe(ctxFor(t, 10*time.Second), "jobs", events.Group("w"), events.AckWait(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			return sub
		}
		lazy := join("n3")
		var dropped []uint64
		for range 2 {
			e, err := lazy.Next(ctxFor(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			dropped = append(dropped, e.Offset)
		}
		lazy.Close()
		var mu sync.Mutex
		acked := map[uint64]int{}
		redelivered := map[uint64]int{}
		var wg sync.WaitGroup
		for _, node := range []string{"n1", "n2"} {
			sub := join(node)
			wg.Go(func() {
				defer sub.Close()
				for {
					mu.Lock()
					done := len(acked) == 30
					mu.Unlock()
					if done {
						return
					}
					e, err := sub.Next(ctxFor(t, 3*time.Second))
					if err != nil {
						if !errors.Is(err, events.ErrClosed) {
							t.Logf("%s: %v", node, err)
						}
						continue
					}
					if err := e.Ack(ctxFor(t, 10*time.Second)); err != nil {
						t.Errorf("ack %d: %v", e.Offset, err)
					}
					mu.Lock()
					acked[e.Offset]++
					if e.Deliveries() > 1 {
						redelivered[e.Offset] = e.Deliveries()
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for off := uint64(1); off <= 30; off++ {
			if acked[off] != 1 {
				t.Errorf("offset %d acked %d times, want once", off, acked[off])
			}
		}
		for _, off := range dropped {
			if redelivered[off] != 2 {
				t.Errorf("offset %d, never acked by its first member, was delivered %d times, want 2", off, redelivered[off])
			}
		}
		if len(redelivered) != len(dropped) {
			t.Errorf("redelivered %v, want only %v", redelivered, dropped)
		}
		var plain events.Event
		if err := plain.Ack(ctxFor(t, time.Second)); !errors.Is(err, events.ErrBadInput) {
			t.Errorf("Ack of an event not from a group: %v, want ErrBadInput", err)
		}
	})
}

// A group subscription may start before the topic has its first event:
// it gets the event once it is published.
func TestGroupBeforeTheFirstEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 7)
		ss := streams(t, c)
		sub, err := ss["n2"].Subscribe(ctxFor(t, 10*time.Second), "later", events.Group("g"))
		if err != nil {
			t.Fatal(err)
		}
		got := nextAsync(t, sub)
		time.Sleep(3 * time.Second) // Next waits: nothing is published yet
		if _, err := ss["n1"].Publish(ctxFor(t, 10*time.Second), "later", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if e := <-got; e.Offset != 1 || string(e.Payload) != "first" {
			t.Errorf("got %+v, want the first event", e)
		}
	})
}

// A member's fetch that waits through an outage of the voters (its node
// cut off for several AckWaits) keeps what the group hands it once the
// fetch gets through: the hold starts when the voters hand the event
// out, not when Next first asked. Skipping it would waste a delivery,
// and with MaxDeliveries a fetch per member waiting through one outage
// could use them all up on an event no member ever saw.
func TestGroupFetchThroughAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 9)
		ss := streams(t, c)
		node := "n3"
		if votersLeader(c) == node {
			node = "n2"
		}
		sub, err := ss[node].Subscribe(ctxFor(t, 10*time.Second), "outage", events.Group("g"), events.AckWait(time.Second), events.FromOffset(1))
		if err != nil {
			t.Fatal(err)
		}
		var others []string
		for _, n := range c.Names() {
			if n != node {
				others = append(others, n)
			}
		}
		c.Partition([]string{node}, others)
		got := nextAsync(t, sub)
		if _, err := ss[others[0]].Publish(ctxFor(t, 10*time.Second), "outage", []byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		c.Heal()
		e := <-got
		if e.Offset != 1 || e.Deliveries() != 1 {
			t.Errorf("Next returned offset %d on delivery %d, want offset 1 on its first (skipped %d)", e.Offset, e.Deliveries(), sub.Skipped())
		}
		if left := time.Until(e.HeldUntil()); left <= 0 || left > time.Second {
			t.Errorf("held for %v more, want some of AckWait (1s)", left)
		}
	})
}

// A member with Prefetch takes a batch in one round: the next member
// starts after it. What it took and did not return before it closed is
// handed out again once AckWait passes; an event whose AckWait passed
// while it waited in a member is skipped there, not returned late.
func TestGroupPrefetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 5)
		ss := streams(t, c)
		for i := range 25 {
			if _, err := ss["n1"].Publish(ctxFor(t, 30*time.Second), "batch", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		join := func(node string, n int) *events.Subscription {
			sub, err := ss[node].Subscribe(ctxFor(t, 10*time.Second), "batch", events.Group("w"), events.AckWait(time.Second), events.Prefetch(n))
			if err != nil {
				t.Fatal(err)
			}
			return sub
		}
		next := func(sub *events.Subscription) events.Event {
			t.Helper()
			e, err := sub.Next(ctxFor(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		a, b := join("n2", 10), join("n3", 10)
		if e := next(a); e.Offset != 1 {
			t.Fatalf("a's first event: offset %d, want 1", e.Offset)
		}
		if e := next(b); e.Offset != 11 {
			t.Fatalf("b's first event: offset %d, want 11 (a took 1 to 10 in one round)", e.Offset)
		}
		a.Close() // took 2 to 10 and never returned them
		time.Sleep(2 * time.Second)
		// Every AckWait passed: a's 1 to 10 and b's 11 (returned, never
		// acked) and 12 to 20 (taken, skipped now) go out again, in
		// offset order, then the new 21 to 25.
		for want := uint64(1); want <= 25; want++ {
			if want == 2 && b.Skipped() != 9 {
				t.Errorf("b skipped %d events, want 9 (12 to 20)", b.Skipped())
			}
			e := next(b)
			deliveries := 2
			if want > 20 {
				deliveries = 1
			}
			if e.Offset != want || e.Deliveries() != deliveries {
				t.Fatalf("b's next event: offset %d delivery %d, want offset %d delivery %d", e.Offset, e.Deliveries(), want, deliveries)
			}
			if err := e.Ack(ctxFor(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// nextAsync calls sub.Next on a goroutine of its own and hands over
// what it returns.
func nextAsync(t *testing.T, sub *events.Subscription) <-chan events.Event {
	got := make(chan events.Event, 1)
	go func() {
		e, err := sub.Next(ctxFor(t, 30*time.Second))
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		got <- e
	}()
	return got
}
