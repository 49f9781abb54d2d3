package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/check"
)

// Three nodes on loopback sockets: each publishes from two goroutines
// and reads the topic from offset 1; a consumer group with a member on
// each node (Prefetch 8) acks every event. The recorded history must
// hold S1 and S2, and the group must have handed every event out.
func TestLoopback(t *testing.T) {
	const nodes, perPublisher = 3, 60
	ns := clustertest.Start(t, nodes, func(int) cluster.Config { return cluster.Config{ExpectedSize: nodes} })
	ss := make([]*events.Stream, nodes)
	for i, n := range ns {
		s, err := events.New(n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ss[i] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var h check.EventHistory
	var wg sync.WaitGroup
	for i, s := range ss {
		for p := range 2 {
			wg.Go(func() {
				for k := range perPublisher {
					pub := check.Publication{Node: ns[i].Name(), Topic: "lb", Payload: fmt.Sprintf("%d/%d/%d", i, p, k), Called: time.Now()}
					e, err := s.Publish(ctx, "lb", []byte(pub.Payload))
					pub.Done, pub.OK, pub.Offset = time.Now(), err == nil, e.Offset
					if err != nil {
						t.Errorf("publish %s: %v", pub.Payload, err)
					}
					mu.Lock()
					h.Publications = append(h.Publications, pub)
					mu.Unlock()
				}
			})
		}
	}
	const total = nodes * 2 * perPublisher
	subs := make([]check.SubscriptionRecord, nodes)
	acked := map[uint64]int{}
	var readers sync.WaitGroup
	for i, s := range ss {
		sub, err := s.Subscribe(ctx, "lb", events.FromOffset(1))
		if err != nil {
			t.Fatal(err)
		}
		member, err := s.Subscribe(ctx, "lb", events.Group("g"), events.FromOffset(1), events.Prefetch(8), events.AckWait(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = check.SubscriptionRecord{Name: ns[i].Name(), Topic: "lb", From: 1}
		readers.Go(func() {
			defer sub.Close()
			for range total {
				e, err := sub.Next(ctx)
				if err != nil {
					t.Errorf("%s: Next: %v", ns[i].Name(), err)
					return
				}
				subs[i].Deliveries = append(subs[i].Deliveries, check.Delivery{Offset: e.Offset, Payload: string(e.Payload), At: time.Now()})
			}
		})
		readers.Go(func() {
			defer member.Close()
			for {
				mu.Lock()
				done := len(acked) == total
				mu.Unlock()
				if done {
					return
				}
				nctx, ncancel := context.WithTimeout(ctx, time.Second)
				e, err := member.Next(nctx)
				ncancel()
				switch {
				case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					continue // nothing for this member now: look at the count again
				case err != nil:
					t.Errorf("%s: group Next: %v", ns[i].Name(), err)
					return
				}
				if err := e.Ack(ctx); err != nil {
					t.Errorf("%s: ack %d: %v", ns[i].Name(), e.Offset, err)
				}
				mu.Lock()
				acked[e.Offset]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	readers.Wait()
	h.Subscriptions = subs
	v := check.CheckEvents(h)
	t.Logf("%d published, %d delivered, publish p50 %v, p99 %v; group acked %d", v.Published, v.Delivered, v.P50, v.P99, len(acked))
	if v.Published != total || v.Delivered != nodes*total {
		t.Errorf("%d published and %d delivered, want %d and %d", v.Published, v.Delivered, total, nodes*total)
	}
	if v.S1.N > 0 || v.S2.N > 0 {
		t.Errorf("S1: %v; S2: %v", v.S1.First, v.S2.First)
	}
	for off := uint64(1); off <= total; off++ {
		if acked[off] != 1 {
			t.Errorf("offset %d acked %d times by the group, want once", off, acked[off])
		}
	}
}
