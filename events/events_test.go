package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/internal/leakcheck"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// streams starts a Stream on every node of c, closed at cleanup.
func streams(t *testing.T, c *sim.Cluster) map[string]*events.Stream {
	t.Helper()
	out := map[string]*events.Stream{}
	for _, n := range c.Nodes() {
		s, err := events.New(n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[n.Name()] = s
	}
	return out
}

// ctxFor returns a context that ends after d, or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// read takes n events from sub.
func read(t *testing.T, sub *events.Subscription, n int) []events.Event {
	t.Helper()
	var out []events.Event
	for range n {
		e, err := sub.Next(ctxFor(t, 30*time.Second))
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(out), err)
		}
		out = append(out, e)
	}
	return out
}

// Publishers on two nodes, subscribers on three: every subscriber sees
// the same events at offsets 1, 2, 3, ... (S1), and every event whose
// Publish returned is among them at the offset Publish gave (S2).
func TestPublishSubscribe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 5, 1)
		ss := streams(t, c)
		var subs []*events.Subscription
		for _, n := range []string{"n1", "n3", "n5"} {
			sub, err := ss[n].Subscribe(ctxFor(t, 30*time.Second), "orders")
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
		}
		var mu sync.Mutex
		published := map[uint64]string{}
		var wg sync.WaitGroup
		for _, n := range []string{"n2", "n4"} {
			wg.Go(func() {
				for i := range 25 {
					p := fmt.Sprintf("%s-%d", n, i)
					e, err := ss[n].Publish(ctxFor(t, 30*time.Second), "orders", []byte(p), events.Metadata(map[string]string{"from": n}))
					if err != nil {
						t.Errorf("publish %s: %v", p, err)
						return
					}
					mu.Lock()
					published[e.Offset] = p
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		var first []events.Event
		for i, sub := range subs {
			got := read(t, sub, 50)
			for j, e := range got {
				if e.Offset != uint64(j+1) || string(e.Payload) != published[e.Offset] || e.Metadata["from"] == "" {
					t.Fatalf("subscriber %d, event %d: %+v; want offset %d with %q", i, j, e, j+1, published[uint64(j+1)])
				}
				if j > 0 && e.Time.Before(got[j-1].Time) {
					t.Fatalf("subscriber %d: time goes back at offset %d", i, e.Offset)
				}
			}
			if i == 0 {
				first = got
			} else if !slices.EqualFunc(got, first, func(a, b events.Event) bool { return a.Offset == b.Offset && string(a.Payload) == string(b.Payload) }) {
				t.Fatalf("subscriber %d saw another sequence", i)
			}
		}
	})
}

// A subscription goes on, without a gap, across the crash of the voters'
// leader; Latest sees only what comes after it; FromOffset and FromTime
// start where they say.
func TestLeaderCrashAndStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 5, 2)
		ss := streams(t, c)
		for i := range 10 {
			if _, err := ss["n1"].Publish(ctxFor(t, 30*time.Second), "t", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		sub, _ := ss["n2"].Subscribe(ctxFor(t, 10*time.Second), "t")
		latest, _ := ss["n3"].Subscribe(ctxFor(t, 10*time.Second), "t", events.Latest())
		from5, _ := ss["n3"].Subscribe(ctxFor(t, 10*time.Second), "t", events.FromOffset(5))
		firstTen := read(t, sub, 10)
		if firstTen[9].Offset != 10 {
			t.Fatalf("read %+v", firstTen)
		}
		var lead string
		for _, n := range c.Nodes() {
			svc, release := voters.Acquire(n)
			if svc.Info().Role == "leader" {
				lead = n.Name()
			}
			release()
		}
		c.Crash(lead)
		publisher := "n1"
		if lead == "n1" {
			publisher = "n4"
		}
		for i := 10; i < 20; i++ {
			if _, err := ss[publisher].Publish(ctxFor(t, 30*time.Second), "t", []byte(fmt.Sprint(i))); err != nil {
				t.Fatalf("publish %d after the leader %s crashed: %v", i, lead, err)
			}
		}
		readers := map[string]*events.Subscription{"sub": sub, "latest": latest, "from5": from5}
		wantFirst := map[string]uint64{"sub": 11, "latest": 11, "from5": 5}
		for name, r := range readers {
			if name == "sub" && lead == "n2" || name != "sub" && lead == "n3" {
				continue // its node crashed
			}
			got := read(t, r, 20-int(wantFirst[name])+1)
			for j, e := range got {
				if want := wantFirst[name] + uint64(j); e.Offset != want || string(e.Payload) != fmt.Sprint(want-1) {
					t.Fatalf("%s: event %d is %d %q, want %d", name, j, e.Offset, e.Payload, want)
				}
			}
		}
		// FromTime starts at the first event at or after the time (by
		// the clocks of the leaders that appended them).
		at := firstTen[5].Time.Wall
		fromTime, err := ss[publisher].Subscribe(ctxFor(t, 10*time.Second), "t", events.FromTime(time.Unix(0, at)))
		if err != nil {
			t.Fatal(err)
		}
		e := read(t, fromTime, 1)[0]
		if e.Offset > 6 || e.Time.Wall < at || e.Offset > 1 && firstTen[e.Offset-2].Time.Wall >= at {
			t.Errorf("FromTime(time of offset 6) starts at offset %d (time %d); want the first at or after %d", e.Offset, e.Time.Wall, at)
		}
	})
}

// Bad input is a clear error; a closed Stream or Subscription says so,
// and Close ends a Next that waits.
func TestErrorsAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 3)
		ss := streams(t, c)
		s := ss["n1"]
		ctx := ctxFor(t, 10*time.Second)
		for name, err := range map[string]error{
			"empty topic":            first(s.Publish(ctx, "", nil)),
			"long topic":             first(s.Publish(ctx, string(make([]byte, events.MaxTopicLen+1)), nil)),
			"large payload":          first(s.Publish(ctx, "t", make([]byte, events.MaxPayload+1))),
			"empty key":              first(s.Publish(ctx, "t", nil, events.IdempotencyKey(""))),
			"FromOffset(0)":          second(s.Subscribe(ctx, "t", events.FromOffset(0))),
			"Prefetch(0)":            second(s.Subscribe(ctx, "t", events.Group("g"), events.Prefetch(0))),
			"Prefetch(max+1)":        second(s.Subscribe(ctx, "t", events.Group("g"), events.Prefetch(events.MaxPrefetch+1))),
			"Prefetch without Group": second(s.Subscribe(ctx, "t", events.Prefetch(2))),
			"AckWait without Group":  second(s.Subscribe(ctx, "t", events.AckWait(time.Second))),
		} {
			if !errors.Is(err, events.ErrBadInput) {
				t.Errorf("%s: %v, want ErrBadInput", name, err)
			}
		}
		a, err := s.Publish(ctx, "t", []byte("x"), events.IdempotencyKey("k"))
		b, err2 := s.Publish(ctx, "t", []byte("x again"), events.IdempotencyKey("k"))
		if err != nil || err2 != nil || a.Offset != b.Offset {
			t.Errorf("two publishes with one key: %d (%v), %d (%v); want one offset", a.Offset, err, b.Offset, err2)
		}
		sub, _ := s.Subscribe(ctx, "quiet", events.Latest())
		done := make(chan error, 1)
		go func() { _, err := sub.Next(context.Background()); done <- err }()
		time.Sleep(3 * time.Second) // Next waits: nothing is published
		sub.Close()
		if err := <-done; !errors.Is(err, events.ErrClosed) {
			t.Errorf("Next during Close: %v, want ErrClosed", err)
		}
		s.Close()
		if _, err := s.Publish(ctx, "t", nil); !errors.Is(err, events.ErrClosed) {
			t.Errorf("Publish on a closed Stream: %v, want ErrClosed", err)
		}
	})
}

func first(_ events.Event, err error) error          { return err }
func second(_ *events.Subscription, err error) error { return err }

// Retention removes the oldest events; a subscription from an offset it
// removed, or one that falls behind it, gets ErrTruncated naming the lost
// offsets and then goes on from the first kept (S4).
func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 5)
		s := streams(t, c)["n2"]
		ctx := ctxFor(t, 30*time.Second)
		if err := s.SetRetention(ctx, "r", 0, 40); err != nil {
			t.Fatal(err)
		}
		slow, err := s.Subscribe(ctx, "r", events.FromOffset(1))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := s.Publish(ctx, "r", []byte(fmt.Sprintf("%04d", i))); err != nil { // 17 bytes each with Publish's own key: two fit
				t.Fatal(err)
			}
		}
		if _, err := slow.Next(ctx); !errors.Is(err, events.ErrTruncated) || !strings.Contains(err.Error(), "offsets 1 to 3") {
			t.Fatalf("Next behind retention: %v, want ErrTruncated for offsets 1 to 3", err)
		}
		if e, err := slow.Next(ctx); err != nil || e.Offset != 4 {
			t.Fatalf("then Next = %d, %v; want offset 4", e.Offset, err)
		}
		late, _ := s.Subscribe(ctx, "r", events.FromOffset(2))
		if _, err := late.Next(ctx); !errors.Is(err, events.ErrTruncated) {
			t.Errorf("a subscription from a removed offset: %v, want ErrTruncated", err)
		}
		if err := s.SetRetention(ctx, "r", time.Second, 0); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "events older than a second trimmed", func() bool {
			sub, err := s.Subscribe(ctx, "r", events.FromOffset(5))
			if err != nil {
				return false
			}
			defer sub.Close()
			_, err = sub.Next(ctxFor(t, 100*time.Millisecond))
			return errors.Is(err, events.ErrTruncated)
		})
	})
}

// waitFor polls f every 50 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
