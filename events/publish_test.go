package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// Many Publishes at once on one Stream go to the voters in batches: each
// gets its own offset and time, and a subscriber reads every payload at
// the offset its Publish returned. A Publish whose ctx has ended returns
// at once; Close ends those still waiting with ErrClosed.
func TestConcurrentPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 9)
		ss := streams(t, c)
		s := ss["n2"]
		const n = 300
		offsets := make([]uint64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				e, err := s.Publish(ctxFor(t, 30*time.Second), "many", []byte(fmt.Sprint(i)))
				if err != nil {
					t.Errorf("publish %d: %v", i, err)
				}
				offsets[i] = e.Offset
			})
		}
		wg.Wait()
		at := map[uint64]int{}
		for i, off := range offsets {
			if j, dup := at[off]; dup {
				t.Fatalf("publishes %d and %d both got offset %d", j, i, off)
			}
			at[off] = i
		}
		sub, err := ss["n3"].Subscribe(ctxFor(t, 10*time.Second), "many", events.FromOffset(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range read(t, sub, n) {
			if i, ok := at[e.Offset]; !ok || string(e.Payload) != fmt.Sprint(i) {
				t.Fatalf("offset %d holds %q; its Publish was number %d (%v)", e.Offset, e.Payload, i, ok)
			}
		}

		done, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Publish(done, "many", []byte("late")); !errors.Is(err, context.Canceled) {
			t.Errorf("Publish with an ended ctx: %v, want context.Canceled", err)
		}
		c.Partition([]string{"n2"}, []string{"n1", "n3"}) // n2 alone has no quorum: its Publishes wait
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := s.Publish(ctxFor(t, time.Minute), "many", []byte("cut off"))
				errs <- err
			}()
		}
		time.Sleep(2 * time.Second)
		s.Close()
		for range 3 {
			if err := <-errs; !errors.Is(err, events.ErrClosed) {
				t.Errorf("a Publish waiting at Close: %v, want ErrClosed", err)
			}
		}
	})
}

// A Publish is held to its own deadline, not to another's in the same
// request: while the node has no quorum, a Publish with a second to go
// fails after about a second, and one with no deadline waits through a
// 40 s partition (requests are sent again after 30 s) and succeeds once
// the quorum is back.
func TestPublishDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 10)
		ss := streams(t, c)
		s := ss["n2"]
		if _, err := s.Publish(ctxFor(t, 30*time.Second), "d", []byte("first")); err != nil {
			t.Fatal(err)
		}
		c.Partition([]string{"n2"}, []string{"n1", "n3"})
		long := make(chan error, 1)
		go func() {
			_, err := s.Publish(context.Background(), "d", []byte("no deadline"))
			long <- err
		}()
		start := time.Now()
		_, err := s.Publish(ctxFor(t, time.Second), "d", []byte("short"))
		if took := time.Since(start); err == nil || took > 2*time.Second {
			t.Errorf("the short Publish returned %v after %v; want an error after about a second", err, took)
		}
		time.Sleep(40 * time.Second)
		c.Heal()
		select {
		case err := <-long:
			if err != nil {
				t.Errorf("the Publish without a deadline: %v; want it to succeed once the quorum is back", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("the Publish without a deadline did not return within a minute of the heal")
		}
	})
}
