package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A node that joined by DNS and finds itself alone joins its seeds
// again, looking them up again: b joined a through an SRV record; a
// crashes and comes back as a2 at another port, which joins nobody;
// the record now names a2, and b, alone, finds it.
func TestRejoinWhenAlone(t *testing.T) {
	r := newFakeResolver()
	a := newTestNode(t, "a", testKey)
	r.setSRV("_gossip._tcp.svc", fmt.Sprintf("a.svc:%d", port(a)))
	r.setIPs("a.svc", "127.0.0.1")
	b := newResolvedNode(t, "b", "127.0.0.1:0", r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, "dnssrv+_gossip._tcp.svc"); err != nil {
		t.Fatalf("b joins: %v", err)
	}
	waitFor(t, 10*time.Second, "a and b to see each other", func() bool { return allSee([]*Node{a, b}, names(a, b)) })

	a.Close() // a crash: b sees a fail and is alone
	waitFor(t, 10*time.Second, "b to be alone", b.alone)
	a2 := newTestNode(t, "a2", testKey)
	r.setSRV("_gossip._tcp.svc", fmt.Sprintf("a2.svc:%d", port(a2)))
	r.setIPs("a2.svc", "127.0.0.1")
	before := r.count()
	start := time.Now()
	waitFor(t, 20*time.Second, "b to join a2 by its seeds", func() bool { return allSee([]*Node{a2, b}, names(a2, b)) })
	t.Logf("b found a2 %v after a2 started, with %d lookups", time.Since(start), r.count()-before)
	if r.count() == before {
		t.Error("b joined a2 without looking its seeds up again")
	}
}

// A node that is not alone does not join its seeds again, and one that
// left stops: no lookups while it has company, none after Leave.
func TestNoRejoinWithCompanyOrAfterLeave(t *testing.T) {
	r := newFakeResolver()
	a := newTestNode(t, "a", testKey)
	r.setIPs("a.svc", "127.0.0.1")
	b := newResolvedNode(t, "b", "127.0.0.1:0", r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Join(ctx, fmt.Sprintf("dns+a.svc:%d", port(a))); err != nil {
		t.Fatalf("b joins: %v", err)
	}
	waitFor(t, 10*time.Second, "a and b to see each other", func() bool { return allSee([]*Node{a, b}, names(a, b)) })
	after := r.count()
	alone := b.cfg.Profile.joinTiming().alone
	holdsFor(t, 3*alone, "no lookups while b has company", func() bool { return r.count() == after })

	if err := b.Leave(ctx); err != nil {
		t.Fatalf("b leaves: %v", err)
	}
	a.Close()
	holdsFor(t, 3*alone, "no lookups after b left", func() bool { return r.count() == after })
	if _, err := b.Join(ctx, "127.0.0.1:1"); err == nil {
		t.Error("Join after Leave succeeded, want an error")
	}
}

// holdsFor fails t if cond stops holding within d.
func holdsFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); <-tick.C {
		if !cond() {
			t.Fatalf("not %s", what)
		}
	}
}
