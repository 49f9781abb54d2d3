package events_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// The voters' leader stamps event times and delivery deadlines. When it
// crashes and the next leader's clock reads an hour behind, or an hour
// ahead, the log's time goes on by the time that passed: an event a
// member held unacked is handed out again once its AckWait has passed,
// neither an hour later nor at once, and event times go on at the
// clock's rate, never back.
func TestEventClockAcrossLeaders(t *testing.T) {
	const ackWait = 30 * time.Second
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := simtest.Start(t, 3, 11)
				ss := streams(t, c) // the voter service runs from here
				var lead string
				waitFor(t, 30*time.Second, "a voters' leader", func() bool {
					lead = votersLeader(c)
					return lead != ""
				})
				var other string
				for _, n := range c.Names() {
					if n != lead {
						c.SetSkew(n, skew)
						other = n
					}
				}
				first, err := ss[other].Publish(ctxFor(t, 10*time.Second), "skew", []byte("held"))
				if err != nil {
					t.Fatal(err)
				}
				holder, err := ss[other].Subscribe(ctxFor(t, 10*time.Second), "skew", events.Group("g"), events.AckWait(ackWait))
				if err != nil {
					t.Fatal(err)
				}
				if e, err := holder.Next(ctxFor(t, 10*time.Second)); err != nil || e.Offset != first.Offset {
					t.Fatalf("the holder's Next: %v, %v", e.Offset, err)
				}
				handed := time.Now()
				c.Crash(lead)
				second, err := ss[other].Publish(ctxFor(t, 30*time.Second), "skew", []byte("after"))
				if err != nil {
					t.Fatal(err)
				}
				if second.Time.Wall < first.Time.Wall {
					t.Errorf("an event after the leader change is stamped %v before the one before it", time.Duration(first.Time.Wall-second.Time.Wall))
				}
				taker, err := ss[other].Subscribe(ctxFor(t, 10*time.Second), "skew", events.Group("g"), events.AckWait(ackWait))
				if err != nil {
					t.Fatal(err)
				}
				ctx := ctxFor(t, 2*time.Minute)
				for {
					e, err := taker.Next(ctx)
					if err != nil {
						t.Fatalf("offset %d not handed out again within two minutes: %v", first.Offset, err)
					}
					if e.Offset != first.Offset {
						if err := e.Ack(ctx); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if since := time.Since(handed); since < ackWait-time.Second || e.Deliveries() != 2 {
						t.Errorf("offset %d handed out again %v after it was handed out (delivery %d); want AckWait %v, delivery 2", e.Offset, since, e.Deliveries(), ackWait)
					}
					break
				}
				mark := time.Now()
				time.Sleep(2 * time.Second)
				later, err := ss[other].Publish(ctxFor(t, 10*time.Second), "skew", []byte("later"))
				if gone := time.Duration(later.Time.Wall - second.Time.Wall); err != nil || gone < time.Since(mark) {
					t.Errorf("a publish %v after the one before is stamped %v after it (%v); want time to go on at the clock's rate", time.Since(mark), gone, err)
				}
			})
		})
	}
}
