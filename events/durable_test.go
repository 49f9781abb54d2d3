package events_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// With a DataDir on every node, a restart of the whole cluster at once
// keeps the log and the groups' positions: a subscription from offset 1
// reads every event published before it, a group goes on after what
// was acked, and offsets go on from the last.
func TestFullRestartWithDataDir(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		c := simtest.StartOptions(t, sim.Options{Nodes: 3, Seed: 21, Profile: cluster.Local, DataDir: root})
		ss := streams(t, c)
		const n = 40
		for i := range n {
			e, err := ss["n1"].Publish(ctxFor(t, 30*time.Second), "orders", []byte(fmt.Sprint(i)))
			if err != nil || e.Offset != uint64(i+1) {
				t.Fatalf("publish %d: offset %d, %v", i, e.Offset, err)
			}
		}
		sub, err := ss["n2"].Subscribe(ctxFor(t, 10*time.Second), "orders", events.Group("w"), events.AckWait(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range read(t, sub, 10) {
			if err := e.Ack(ctxFor(t, 10*time.Second)); err != nil {
				t.Fatalf("ack %d: %v", e.Offset, err)
			}
		}
		sub.Close()
		for _, name := range c.Names() {
			c.Crash(name)
		}
		time.Sleep(5 * time.Second)
		for _, name := range c.Names() {
			restart(t, c, name)
		}
		ss = streams(t, c)
		all, err := ss["n3"].Subscribe(ctxFor(t, 30*time.Second), "orders", events.FromOffset(1))
		if err != nil {
			t.Fatal(err)
		}
		defer all.Close()
		for i, e := range read(t, all, n) {
			if e.Offset != uint64(i+1) || string(e.Payload) != fmt.Sprint(i) {
				t.Fatalf("after the restart, event %d is offset %d %q", i, e.Offset, e.Payload)
			}
		}
		g, err := ss["n1"].Subscribe(ctxFor(t, 30*time.Second), "orders", events.Group("w"), events.AckWait(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if e := read(t, g, 1)[0]; e.Offset != 11 || e.Deliveries() != 1 {
			t.Errorf("the group's next event after the restart: offset %d, delivery %d; want 11, 1", e.Offset, e.Deliveries())
		}
		e, err := ss["n2"].Publish(ctxFor(t, 30*time.Second), "orders", []byte("after"))
		if err != nil || e.Offset != n+1 {
			t.Errorf("publish after the restart: offset %d, %v; want %d", e.Offset, err, n+1)
		}
	})
}
