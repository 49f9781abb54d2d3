package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// The scenarios: on 5 nodes, every node publishes to one topic every
// 50 ms, reads it with a subscription from offset 1 and runs a member of
// one consumer group (AckWait 1 s, MaxDeliveries 5) that acks 90% of
// its events, nacks 5% and leaves 5% unsettled. A fault runs; then
// subscriptions from offset 1 and from the middle of the topic read it
// up to its last acknowledged event; the publishers stop and the group
// gets a quiet period to finish. S1, S2 and S4 are judged by
// check.CheckEvents, S3 by check.CheckGroup.
const (
	scenarioQuiet  = 12 * time.Second
	scenarioMargin = 200 * time.Millisecond // deadlines: the fetch's round trip (the sim's clocks are exact)
	scenarioWait   = time.Second            // AckWait
)

// scenario is one run's workloads and what the fault step may need.
type scenario struct {
	t      *testing.T
	c      *sim.Cluster
	ew     *sim.EventWorkload
	gw     *sim.GroupWorkload
	topic  string
	replay []check.SubscriptionRecord // read after the fault
}

// runScenario runs fault between two seconds of the workloads and the
// replays, and judges the histories; it returns the group's history for
// checks of the scenario's own.
func runScenario(t *testing.T, seed int64, fault func(sc *scenario)) check.GroupHistory {
	c := simtest.Start(t, 5, seed)
	topic := t.Name()
	ew, err := sim.StartEvents(c, topic, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := sim.StartGroupEvents(c, ew, sim.GroupOptions{AckWait: scenarioWait, MaxDeliveries: 5, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{t: t, c: c, ew: ew, gw: gw, topic: topic}
	time.Sleep(2 * time.Second)
	fault(sc)
	time.Sleep(2 * time.Second)
	last := lastAcknowledged(ew.History(), topic)
	sc.replayFrom(c.Nodes()[0].Name(), 1, last)
	sc.replayFrom(c.Nodes()[len(c.Nodes())-1].Name(), last/2, last)
	ew.Quiet()
	time.Sleep(scenarioQuiet)
	gw.Close()
	ew.Close()

	eh := ew.History()
	eh.Subscriptions = append(eh.Subscriptions, sc.replay...)
	v := check.CheckEvents(eh)
	gh := gw.History()
	g := check.CheckGroup(gh, scenarioMargin)
	t.Logf("%d published (%d failed), %d delivered to subscriptions, %d replayed; group: %d delivered, %d redelivered, %d acked, %d nacked, %d unsettled, %d exhausted, %d hidden",
		v.Published, v.Failed, v.Delivered, replayed(sc.replay), g.Delivered, g.Redelivered, g.Acked, g.Nacked, g.Ignored, g.Exhausted, g.Hidden)
	for _, p := range []struct {
		name string
		v    check.Violations
	}{{"S1", v.S1}, {"S2", v.S2}, {"S4", v.S4}, {"S3 one holder", g.Overlap}, {"S3 count", g.Count}, {"S3 lost", g.Lost}, {"S3 after ack", g.AfterAck}} {
		if p.v.N > 0 {
			t.Errorf("%s: %d violations: %q", p.name, p.v.N, p.v.First)
		}
	}
	if v.Published < 500 || v.Delivered < 4*v.Published || g.Delivered < v.Published || g.Redelivered == 0 {
		t.Errorf("%d published, %d delivered, %d to the group (%d redelivered): the workloads did not run", v.Published, v.Delivered, g.Delivered, g.Redelivered)
	}
	return gh
}

// replayFrom reads the topic on node from offset from up to offset to,
// as a subscription started after the fault, and keeps the record.
func (sc *scenario) replayFrom(node string, from, to uint64) {
	t := sc.t
	t.Helper()
	s, err := events.New(sc.c.Node(node))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := s.Subscribe(ctx, sc.topic, events.FromOffset(from))
	if err != nil {
		t.Fatal(err)
	}
	rec := check.SubscriptionRecord{Name: fmt.Sprintf("replay-%s-%d", node, from), Topic: sc.topic, From: from}
	for len(rec.Deliveries) == 0 || rec.Deliveries[len(rec.Deliveries)-1].Offset < to {
		e, err := sub.Next(ctx)
		var te *events.TruncatedError
		switch {
		case errors.As(err, &te):
			rec.Truncated = append(rec.Truncated, check.Truncation{Before: len(rec.Deliveries), Lost: te.To})
		case err != nil:
			t.Fatalf("replay from %d on %s, after %d events: %v", from, node, len(rec.Deliveries), err)
		default:
			rec.Deliveries = append(rec.Deliveries, check.Delivery{Offset: e.Offset, Payload: string(e.Payload), At: time.Now()})
		}
	}
	sc.replay = append(sc.replay, rec)
}

// lastAcknowledged returns the highest offset a Publish of topic
// returned.
func lastAcknowledged(h check.EventHistory, topic string) uint64 {
	var last uint64
	for _, p := range h.Publications {
		if p.OK && p.Topic == topic {
			last = max(last, p.Offset)
		}
	}
	return last
}

func replayed(rs []check.SubscriptionRecord) int {
	n := 0
	for _, r := range rs {
		n += len(r.Deliveries)
	}
	return n
}

// The voters' leader, which assigns the offsets, crashes in the middle
// of the publications and restarts.
func TestScenarioSequencerCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runScenario(t, 11, func(sc *scenario) {
			lead := votersLeader(sc.c)
			sc.c.Crash(lead)
			time.Sleep(3 * time.Second)
			restart(t, sc.c, lead)
			time.Sleep(3 * time.Second)
		})
	})
}

// A partition cuts two nodes from three for four seconds, and heals.
func TestScenarioPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runScenario(t, 12, func(sc *scenario) {
			sc.c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
			time.Sleep(4 * time.Second)
			sc.c.Heal()
			time.Sleep(3 * time.Second)
		})
	})
}

// A voter's node stops for good and a new node joins: the leader
// replaces the lost voter with it.
func TestScenarioVoterReplacement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runScenario(t, 13, func(sc *scenario) {
			lead := votersLeader(sc.c)
			victim := "n2"
			if lead == victim {
				victim = "n3"
			}
			sc.c.Crash(victim)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := sc.c.Add(ctx)
			if err != nil {
				t.Fatal(err)
			}
			in := waitVoters(t, sc.c, func(in voters.Info) bool {
				return slices.Contains(in.Voters, n.Name()) && !slices.Contains(in.Voters, victim)
			})
			t.Logf("%s replaced %s: voters %v", n.Name(), victim, in.Voters)
		})
	})
}

// Every node restarts, one at a time, the cluster settling between;
// subscriptions from offset 1 started after the roll read everything.
func TestScenarioRollingRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		runScenario(t, 14, func(sc *scenario) {
			for _, name := range sc.c.Names() {
				sc.c.Crash(name)
				restart(t, sc.c, name)
				in := waitVoters(t, sc.c, func(in voters.Info) bool {
					return len(in.Voters) == 5 && slices.Contains(in.Voters, name) && sc.c.Converged()
				})
				t.Logf("%s restarted: voters %v, leader %s", name, in.Voters, in.Leader)
				time.Sleep(time.Second)
			}
			last := lastAcknowledged(sc.ew.History(), sc.topic)
			for _, n := range sc.c.Nodes() {
				sc.replayFrom(n.Name(), 1, last) // every node, all restarted, reads the topic from the start
			}
		})
	})
}

// A member holding events it has not acked crashes: the group hands
// them to other members after AckWait, as their next delivery, and goes
// on from its position.
func TestScenarioGroupMemberCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var crashed time.Time
		const node = "n4"
		h := runScenario(t, 15, func(sc *scenario) {
			sc.gw.Stall(node)
			time.Sleep(500 * time.Millisecond)
			crashed = time.Now()
			sc.c.Crash(node)
			time.Sleep(3 * time.Second)
			restart(t, sc.c, node)
		})
		g := h.Groups[0]
		held := 0
		for _, d := range g.Deliveries {
			settled := d.Settle != check.Unsettled && d.SettleOK && d.Settled.Before(crashed)
			if d.Member != node+"#1" || d.At.Add(g.AckWait).Before(crashed) || settled {
				continue // not held when the node crashed
			}
			held++
			if !redeliveredAfter(g, d) {
				t.Errorf("offset %d, held by %s when it crashed (delivery %d), was not handed to another member after AckWait", d.Offset, d.Member, d.Deliveries)
			}
		}
		if held == 0 {
			t.Errorf("%s held no event when it crashed", node)
		}
		t.Logf("%s held %d events when it crashed", node, held)
	})
}

// redeliveredAfter reports whether the group handed d's offset to
// another member after d's deadline, as a later delivery.
func redeliveredAfter(g check.GroupRecord, d check.GroupDelivery) bool {
	for _, r := range g.Deliveries {
		if r.Offset == d.Offset && r.Member != d.Member && r.Deliveries > d.Deliveries && !r.At.Add(scenarioMargin).Before(d.At.Add(g.AckWait)) {
			return true
		}
	}
	return false
}

// waitVoters waits, 100 ms at a time, until ok holds for the voters'
// leader's view of the group, and returns that view.
func waitVoters(t *testing.T, c *sim.Cluster, ok func(voters.Info) bool) voters.Info {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if lead := c.Node(votersLeader(c)); lead != nil {
			svc, release := voters.Acquire(lead)
			in := svc.Info()
			release()
			if ok(in) {
				return in
			}
			if time.Now().After(deadline) {
				t.Fatalf("voters did not settle within a minute: %+v", in)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
