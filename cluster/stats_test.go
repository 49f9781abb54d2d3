package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	a, b := rpcPair(t, nil)
	ctx := context.Background()
	for range 3 {
		if err := a.Call(ctx, b.Name(), "echo", echoReq{Text: "x"}, nil); err != nil {
			t.Fatalf("Call: %v", err)
		}
	}
	if err := a.Call(ctx, b.Name(), "nosuch", echoReq{}, nil); err == nil {
		t.Fatal("Call of an unknown method succeeded")
	}
	s := a.Stats()
	if got := s.Members[StateAlive]; got != 2 {
		t.Errorf("Members[alive] = %d, want 2", got)
	}
	for _, state := range []string{StateLeaving, StateLeft, StateFailed} {
		if got, ok := s.Members[state]; !ok || got != 0 {
			t.Errorf("Members[%s] = %d (present %v), want 0, present", state, got, ok)
		}
	}
	if s.HealthScore != 0 {
		t.Errorf("HealthScore = %d on an idle loopback cluster, want 0", s.HealthScore)
	}
	if s.QuorumSize != 2 {
		t.Errorf("QuorumSize = %d, want 2", s.QuorumSize)
	}
	want := []MethodStats{{Method: "echo", Calls: 3}, {Method: "nosuch", Calls: 1, Errors: 1}}
	if len(s.RPC) != len(want) {
		t.Fatalf("RPC = %+v, want methods echo and nosuch", s.RPC)
	}
	for i, w := range want {
		got := s.RPC[i]
		if got.Method != w.Method || got.Calls != w.Calls || got.Errors != w.Errors || got.Latency.Count != w.Calls {
			t.Errorf("RPC[%d] = %s: %d calls, %d errors, %d timed; want %s: %d, %d, %d",
				i, got.Method, got.Calls, got.Errors, got.Latency.Count, w.Method, w.Calls, w.Errors, w.Calls)
		}
		if got.Latency.Sum <= 0 || got.Latency.Sum > 10*time.Second {
			t.Errorf("RPC[%d] latency sum %v, want above 0 and below 10 s", i, got.Latency.Sum)
		}
	}
	if bs := b.Stats(); len(bs.RPC) != 0 {
		t.Errorf("the called node counts %+v, want no calls of its own", bs.RPC)
	}
}

// Method names past maxRPCMethods count together, so that the counters
// stay bounded.
func TestRPCStatsBounded(t *testing.T) {
	var r rpcStats
	for i := range maxRPCMethods + 10 {
		r.record(fmt.Sprintf("m%d", i), time.Now(), nil)
	}
	s := r.snapshot()
	if len(s) != maxRPCMethods+1 {
		t.Fatalf("%d methods counted apart, want %d and %q", len(s), maxRPCMethods, otherMethod)
	}
	for _, m := range s {
		if m.Method == otherMethod && m.Calls != 10 {
			t.Errorf("%q counts %d calls, want 10", otherMethod, m.Calls)
		}
	}
}

func TestRecordCallAllocatesNothing(t *testing.T) {
	var r rpcStats
	r.record("m", time.Now(), nil)
	if n := testing.AllocsPerRun(100, func() { r.record("m", time.Now(), nil) }); n != 0 {
		t.Errorf("recording a call allocates %v times, want 0", n)
	}
}

func TestLookupShared(t *testing.T) {
	n := &Node{}
	if _, _, ok := n.LookupShared("k"); ok {
		t.Fatal("LookupShared found a value nobody made")
	}
	destroyed := 0
	_, release := n.Shared("k", func() any { return "v" }, func(any) { destroyed++ })
	v, lookRelease, ok := n.LookupShared("k")
	if !ok || v != "v" {
		t.Fatalf("LookupShared = %v, %v; want v, true", v, ok)
	}
	release()
	if destroyed != 0 {
		t.Fatal("the value was destroyed while LookupShared's reference was held")
	}
	lookRelease()
	lookRelease() // a second call does nothing
	if destroyed != 1 {
		t.Fatalf("destroyed %d times after the last release, want 1", destroyed)
	}
	if _, _, ok := n.LookupShared("k"); ok {
		t.Fatal("LookupShared found a destroyed value")
	}
}
