package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/events"
)

// The event rows' shape: publishers spread over 3 clients (nodes,
// servers, connections), one subscriber on each, 1 KB events.
const (
	eventPublishersMany = 16
	eventSubscribers    = 3
	eventSize           = 1024
	eventTimeout        = 10 * time.Second // bounds one publish
	// eventDrain bounds the wait, at the end of a slice, for every
	// subscriber to receive every event the slice published; what has
	// not arrived by then counts as failed.
	eventDrain = 10 * time.Second
	// What each stream keeps: 32 MiB, about 32,000 events of 1 KB (many
	// seconds of every system's rate here), so that memory stays bounded
	// and a subscriber that lags a little loses nothing.
	eventRetainBytes = 32 << 20
	eventRetainMsgs  = eventRetainBytes / eventSize
	voterWait        = 30 * time.Second // a new cluster's voters found their group
)

// eventsRow is the event row with pubs publishers.
func eventsRow(pubs int) row {
	plural := "s"
	if pubs == 1 {
		plural = ""
	}
	name := fmt.Sprintf("events-%d", pubs)
	return row{
		name:   name,
		title:  fmt.Sprintf("Events: %d publisher%s, 3 subscribers, 1 KB", pubs, plural),
		metric: throughput,
		setup: fmt.Sprintf("%d goroutine%s 1 KB events back to back, each waiting for the "+
			"acknowledgement (spread over the 3 clients); a subscriber on each of the 3 clients "+
			"receives every event. ops/s is acknowledged publishes per second; p50 and p99 are "+
			"publish-to-delivery: from the start of the publish call to a subscriber receiving the event "+
			"(the payload carries the publish's slice and start time), over every delivery to every "+
			"subscriber (n notes how many). A slice ends once every subscriber has received every event "+
			"it published (its wall time counts), so a system whose subscribers lag is slower for it; "+
			"deliveries still missing %v later count as failed. Every system has its own topic or stream "+
			"per row, bounded to 32 MiB (about 32,000 events). "+
			"gossipsync: 3 nodes on 127.0.0.1 in this process (Local profile), events.New on each, "+
			"Publish through its node, a Subscription (Latest) per node read with Next; the topic's "+
			"SetRetention is 32 MiB, and the events live in the voters' Raft log in memory on all 3. "+
			"NATS JetStream: nats-server %s embedded in this process, 3 servers clustered over "+
			"loopback routes (no compression), a stream of Replicas 3 in memory storage (as "+
			"gossipsync keeps events in memory), MaxMsgs %d and MaxBytes 32 MiB, discard old; js.Publish "+
			"(waits for the PubAck, i.e. replicated) through a connection to each server, and an "+
			"ordered consumer (deliver new) on each server's connection. Redis Streams: one "+
			"redis-server without persistence, XADD MAXLEN ~ %d, each subscriber a consumer group "+
			"of its own read with XREADGROUP COUNT 256 BLOCK 200 NOACK (one connection each).",
			pubs, map[bool]string{true: " publishes", false: "s publish"}[pubs == 1], eventDrain, natsServerVersion, eventRetainMsgs, eventRetainMsgs),
		systems: []system{
			{name: "gossipsync, 3 nodes", role: baseline, start: startGossipEvents(pubs, name)},
			{name: "NATS JetStream, 3 servers, R3 memory", start: startJetStream(pubs, name)},
			{name: "Redis Streams, XREADGROUP", start: startRedisStreams(pubs, name)},
		},
	}
}

// publishFunc publishes one event through one client.
type publishFunc func(ctx context.Context, payload []byte) error

// eventRig is what every system's event workload shares: the
// publishers' loop, the payload that carries its slice and its start
// time, and the bookkeeping of the subscribers' deliveries. Deliveries
// are recorded in the slice whose publisher sent them; one from another
// slice (it arrived after its slice gave up waiting) is dropped.
type eventRig struct {
	publishers int
	base       time.Time // payload times are durations since base (monotonic)
	tail       []byte    // random filler of every payload
	epochs     atomic.Uint64
	cur        atomic.Pointer[eventSlice]
	late       atomic.Int64 // deliveries dropped: not of the current slice
}

// eventSlice is one run of the publishers.
type eventSlice struct {
	epoch uint64
	rec   *recorder
	acked atomic.Int64
	got   [eventSubscribers]atomic.Int64
}

func newEventRig(publishers int) *eventRig {
	g := &eventRig{publishers: publishers, base: time.Now(), tail: make([]byte, eventSize-16)}
	rand.Read(g.tail)
	return g
}

// payload returns a new event of slice epoch, stamped now.
func (g *eventRig) payload(epoch uint64) []byte {
	p := make([]byte, 16, eventSize)
	p = append(p, g.tail...)
	binary.BigEndian.PutUint64(p, epoch)
	binary.BigEndian.PutUint64(p[8:], uint64(time.Since(g.base)))
	return p
}

// deliver records that subscriber sub received payload p.
func (g *eventRig) deliver(sub int, p []byte) {
	now := time.Since(g.base)
	sl := g.cur.Load()
	if len(p) < 16 || sl == nil || sl.epoch != binary.BigEndian.Uint64(p) {
		g.late.Add(1)
		return
	}
	sl.rec.add(now - time.Duration(binary.BigEndian.Uint64(p[8:])))
	sl.got[sub].Add(1)
}

// workload returns the workload of the rig's publishers on publish
// (publisher i uses publish[i%len(publish)]); stop stops the system.
func (g *eventRig) workload(publish []publishFunc, stop func()) workload {
	return workload{
		run: func(ctx context.Context, until time.Time, rec *recorder) error {
			return g.run(ctx, until, rec, publish)
		},
		stop: stop,
		note: func() string {
			if n := g.late.Load(); n > 0 {
				return fmt.Sprintf("%d late deliveries dropped", n)
			}
			return ""
		},
	}
}

// run is one slice: the publishers publish back to back until the time
// until, then the slice waits for the subscribers to receive what they
// published.
func (g *eventRig) run(ctx context.Context, until time.Time, rec *recorder, publish []publishFunc) error {
	sl := &eventSlice{epoch: g.epochs.Add(1), rec: rec}
	g.cur.Store(sl)
	defer g.cur.Store(nil)
	var wg sync.WaitGroup
	for i := range g.publishers {
		pub := publish[i%len(publish)]
		wg.Go(func() {
			for first := true; first || time.Now().Before(until); first = false {
				if ctx.Err() != nil {
					return
				}
				pctx, cancel := context.WithTimeout(ctx, eventTimeout)
				err := pub(pctx, g.payload(sl.epoch))
				cancel()
				if err != nil {
					rec.fail(err)
					continue
				}
				sl.acked.Add(1)
				rec.done()
			}
		})
	}
	wg.Wait()
	return g.drain(ctx, sl)
}

// drain waits until every subscriber has received every event the slice
// published, for at most eventDrain; each delivery still missing then
// counts as failed.
func (g *eventRig) drain(ctx context.Context, sl *eventSlice) error {
	want := sl.acked.Load()
	deadline := time.Now().Add(eventDrain)
	for {
		var missing int64
		for i := range sl.got {
			missing += max(want-sl.got[i].Load(), 0)
		}
		switch {
		case missing == 0:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			err := fmt.Errorf("%d of %d deliveries missing %v after the slice", missing, want*eventSubscribers, eventDrain)
			for range missing {
				sl.rec.fail(err)
			}
			return nil
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// startGossipEvents starts 3 nodes with a Stream each, waits for their
// voters, bounds the topic and subscribes on every node.
func startGossipEvents(pubs int, topic string) func(context.Context, *env) (workload, error) {
	return func(ctx context.Context, _ *env) (workload, error) {
		nodes, err := startNodes(ctx, "v", eventSubscribers)
		if err != nil {
			return workload{}, err
		}
		var streams []*events.Stream
		subCtx, cancelSubs := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		stop := func() {
			cancelSubs()
			for _, s := range streams {
				s.Close()
			}
			wg.Wait()
			closeNodes(nodes)
		}
		for _, n := range nodes {
			s, err := events.New(n)
			if err != nil {
				stop()
				return workload{}, err
			}
			streams = append(streams, s)
		}
		if err := setRetention(ctx, streams[0], topic); err != nil {
			stop()
			return workload{}, err
		}
		rig := newEventRig(pubs)
		var publish []publishFunc
		for i, s := range streams {
			sub, err := s.Subscribe(ctx, topic, events.Latest())
			if err != nil {
				stop()
				return workload{}, fmt.Errorf("subscribe on %s: %w", nodes[i].Name(), err)
			}
			wg.Go(func() { readEvents(subCtx, sub, i, rig) })
			publish = append(publish, func(ctx context.Context, p []byte) error {
				_, err := s.Publish(ctx, topic, p)
				return err
			})
		}
		return rig.workload(publish, stop), nil
	}
}

// setRetention bounds topic to eventRetainBytes, retrying until the new
// cluster's voters have founded their group and answer.
func setRetention(ctx context.Context, s *events.Stream, topic string) error {
	deadline := time.Now().Add(voterWait)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.SetRetention(sctx, topic, 0, eventRetainBytes)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("set retention: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readEvents hands every event of sub to rig as subscriber i's, until
// ctx ends or sub closes.
func readEvents(ctx context.Context, sub *events.Subscription, i int, rig *eventRig) {
	for {
		e, err := sub.Next(ctx)
		switch {
		case err == nil:
			rig.deliver(i, e.Payload)
		case ctx.Err() != nil || errors.Is(err, events.ErrClosed):
			return
		default: // truncated (the drain counts what is lost) or no quorum: go on
			time.Sleep(10 * time.Millisecond)
		}
	}
}
