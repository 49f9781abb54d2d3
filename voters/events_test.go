package voters_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/voters"
)

// publish appends one event to topic through s and returns its offset.
func publish(t *testing.T, s *voters.Service, topic, payload string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.DoEvents(ctx, []eventlog.Cmd{{Op: eventlog.OpPublish, Topic: topic, Now: time.Now().UnixNano(), Events: []eventlog.Event{{Payload: []byte(payload)}}}})
	if err == nil {
		err = res[0].Error()
	}
	if err != nil {
		t.Fatalf("publish %q: %v", payload, err)
	}
	return res[0].Offsets[0]
}

// readAll reads topic from offset 1 through s until it has want events.
func readAll(t *testing.T, s *voters.Service, topic string, want int) []string {
	t.Helper()
	var got []string
	waitFor(t, 10*time.Second, fmt.Sprintf("%d events of %s", want, topic), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		es, _, err := s.ReadEvents(ctx, topic, 1, 100)
		if err != nil {
			return false
		}
		got = got[:0]
		for i, e := range es {
			if e.Offset != uint64(i+1) {
				t.Fatalf("event %d of a read from 1 has offset %d", i, e.Offset)
			}
			got = append(got, string(e.Payload))
		}
		return len(got) >= want
	})
	return got
}

// Events published through any node get consecutive offsets, every node
// reads the same sequence, and a published event survives the crash of
// the voters' leader and reaches a member added afterwards.
func TestEventLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 5, 3)
		e.waitWhole(10*time.Second, 5)
		var want []string
		for i, n := range []string{"n1", "n2", "n3", "n4", "n5", "n1"} {
			p := fmt.Sprintf("e%d", i)
			if off := publish(t, e.s(n), "t", p); off != uint64(i+1) {
				t.Fatalf("publish %d through %s got offset %d", i, n, off)
			}
			want = append(want, p)
		}
		for name, s := range e.live() {
			if got := readAll(t, s, "t", len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s reads %q, want %q", name, got, want)
			}
		}
		// Enough entries that the members snapshot their state (every
		// 1000 applied) and compact their logs past the 1000 entries they
		// keep, so that a member added later starts from a snapshot of
		// both tables.
		for i := range 2600 {
			p := fmt.Sprintf("b%d", i)
			publish(t, e.s("n2"), "bulk", p)
		}
		lead := e.leader()
		e.crash(lead)
		e.waitWhole(30*time.Second, 3)
		var other string
		for name := range e.live() {
			other = name
		}
		publish(t, e.s(other), "t", "after")
		want = append(want, "after")
		e.restart(lead) // a new incarnation, which a leader may add
		for name, s := range e.live() {
			if got := readAll(t, s, "t", len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after the leader's crash %s reads %q, want %q", name, got, want)
			}
		}
		// Every member's own table, the restarted node's new member
		// included once it is one, holds the same events.
		e.waitWhole(30*time.Second, 5)
		for name, s := range e.live() {
			var got []string
			for _, ev := range s.MemberEvents("t") {
				got = append(got, string(ev.Payload))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(s.MemberEvents("bulk")) != 2600 {
				t.Fatalf("member %s holds %q and %d bulk events, want %q and 2600", name, got, len(s.MemberEvents("bulk")), want)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := e.s(other).ReadEvents(ctx, "t", 0, 10); !errors.Is(err, eventlog.ErrTruncated) {
			t.Errorf("a read from offset 0: %v, want ErrTruncated", err)
		}
	})
}
