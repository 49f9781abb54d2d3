package cluster

import (
	"context"
	"testing"
	"time"
)

// A Watch ends with its ctx (C closes), and events that find C full are
// counted, not waited for.
func TestWatch(t *testing.T) {
	a := newTestNode(t, "a", testKey)
	b := newTestNode(t, "b", testKey)
	ctx, cancel := context.WithCancel(context.Background())
	full := a.Watch(ctx, 0) // no room: every event is dropped
	roomy := a.Watch(ctx, 16)
	if _, err := b.Join(context.Background(), a.Addr()); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; { // a's own join may come late: skip it
		select {
		case e := <-roomy.C:
			seen = e.Member.Name == "b" && e.Type == EventJoin
		case <-time.After(10 * time.Second):
			t.Fatal("no join of b within 10 s")
		}
	}
	waitFor(t, 10*time.Second, "the full watcher's drop", func() bool { return full.Dropped() > 0 })
	if roomy.Dropped() != 0 {
		t.Errorf("a watcher with room dropped %d events", roomy.Dropped())
	}
	cancel()
	for range roomy.C { // drains, then ends: C closed with the ctx
	}
	if _, ok := <-full.C; ok {
		t.Error("C open after the ctx ended")
	}
}
