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
