package events_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// The voters' leader stamps event times and delivery deadlines with its
// clock. When it crashes and the next leader's clock is an hour behind,
// the times go on from the last one in the log: an event a member held
// unacked is handed out again after its AckWait, not an hour later, and
// event times do not go back or stand still.
func TestEventClockAcrossLeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 11)
		ss := streams(t, c) // the voter service runs from here
		var lead string
		waitFor(t, 30*time.Second, "a voters' leader", func() bool {
			lead = votersLeader(c)
			return lead != ""
		})
		for _, n := range c.Names() {
			if n != lead {
				c.SetSkew(n, -time.Hour)
			}
		}
		var other string
		for _, n := range c.Names() {
			if n != lead {
				other = n
				break
			}
		}
		first, err := ss[other].Publish(ctxFor(t, 10*time.Second), "skew", []byte("held"))
		if err != nil {
			t.Fatal(err)
		}
		holder, err := ss[other].Subscribe(ctxFor(t, 10*time.Second), "skew", events.Group("g"), events.AckWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if e, err := holder.Next(ctxFor(t, 10*time.Second)); err != nil || e.Offset != first.Offset {
			t.Fatalf("the holder's Next: %v, %v", e.Offset, err)
		}
		c.Crash(lead)
		second, err := ss[other].Publish(ctxFor(t, 30*time.Second), "skew", []byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if second.Time.Wall < first.Time.Wall {
			t.Errorf("an event after the leader change is stamped %v before the one before it", time.Duration(first.Time.Wall-second.Time.Wall))
		}
		taker, err := ss[other].Subscribe(ctxFor(t, 10*time.Second), "skew", events.Group("g"), events.AckWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxFor(t, time.Minute)
		for {
			e, err := taker.Next(ctx)
			if err != nil {
				t.Fatalf("offset %d not handed out again within a minute: %v", first.Offset, err)
			}
			if e.Offset == first.Offset {
				if e.Deliveries() != 2 {
					t.Errorf("offset %d handed out as delivery %d, want 2", e.Offset, e.Deliveries())
				}
				break
			}
			if err := e.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		later, err := ss[other].Publish(ctxFor(t, 10*time.Second), "skew", []byte("later"))
		if gone := time.Duration(later.Time.Wall - second.Time.Wall); err != nil || gone < 2*time.Second {
			t.Errorf("a publish 2 s or more after the one before is stamped %v after it (%v); want time to go on at the clock's rate", gone, err)
		}
	})
}
