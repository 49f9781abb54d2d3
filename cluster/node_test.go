package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJoinConvergesWithKey(t *testing.T) {
	nodes := newTestCluster(t, 5, testKey)
	for _, n := range nodes {
		if got, want := n.QuorumSize(), 3; got != want {
			t.Errorf("%s.QuorumSize() = %d, want %d", n.Name(), got, want)
		}
	}
}

func TestOpenClusterJoins(t *testing.T) {
	newTestCluster(t, 3, nil)
}

func TestJoinErrors(t *testing.T) {
	nodes := newTestCluster(t, 2, testKey)
	seed := nodes[0].Addr()
	otherKey := []byte("fedcba9876543210fedcba9876543210")
	tests := []struct {
		name    string
		node    func(t *testing.T) *Node
		seeds   []string
		wantErr error
	}{
		{"wrong key", func(t *testing.T) *Node { return newTestNode(t, "wrong", otherKey) }, []string{seed}, ErrAuth},
		{"no key", func(t *testing.T) *Node { return newTestNode(t, "open", nil) }, []string{seed}, ErrAuth},
		{"duplicate name", func(t *testing.T) *Node { return newTestNode(t, "n1", testKey) }, []string{seed}, ErrDuplicateName},
		{"bad seed", func(t *testing.T) *Node { return newTestNode(t, "x", testKey) }, []string{"not an address"}, nil},
		{"no seeds", func(t *testing.T) *Node { return newTestNode(t, "y", testKey) }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node(t)
			got, err := n.Join(context.Background(), tt.seeds...)
			if err == nil || got != 0 {
				t.Fatalf("Join = %d, %v; want 0 and an error", got, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Join error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// Nobody outside the key ever shows up, and the cluster still serves.
	for _, n := range nodes {
		if got, want := memberNames(n), names(nodes...); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", n.Name(), got, want)
		}
	}
}

// A node with another key that reaches the gossip layer directly (not
// through Join's RPC greeting) is still never admitted: gossip is encrypted.
func TestWrongKeyGossipNeverAdmitted(t *testing.T) {
	nodes := newTestCluster(t, 3, testKey)
	intruder := newTestNode(t, "intruder", []byte("fedcba9876543210fedcba9876543210"))
	open := newTestNode(t, "open", nil)
	for _, n := range []*Node{intruder, open} {
		if c, err := n.serf.Join([]string{nodes[0].Addr()}, true); err == nil {
			t.Errorf("%s: serf join through the gossip layer contacted %d, want an error", n.Name(), c)
		}
	}
	// Gossip runs many rounds in this time on the Local profile; the
	// intruders must not appear at any point.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); <-tick.C {
		for _, n := range append(nodes, intruder, open) {
			want := names(nodes...)
			if n == intruder || n == open {
				want = []string{n.Name()}
			}
			if got := memberNames(n); !slices.Equal(got, want) {
				t.Fatalf("%s sees %v, want %v", n.Name(), got, want)
			}
		}
	}
}

func TestLeaveSeenAsLeave(t *testing.T) {
	nodes := newTestCluster(t, 4, testKey)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := nodes[0].Watch(wctx, 16).C
	start := time.Now()
	if err := nodes[3].Leave(context.Background()); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	e := waitEventAfterJoin(t, events, "n3")
	if e.Type != EventLeave {
		t.Fatalf("event for n3 = %v, want leave", e.Type)
	}
	t.Logf("leave seen after %v", time.Since(start))
	waitFor(t, 5*time.Second, "n3 gone from every list", func() bool { return allSee(nodes[:3], names(nodes[:3]...)) })
	// A graceful leave lowers the quorum basis from 4 to 3.
	if got, want := nodes[0].QuorumSize(), 2; got != want {
		t.Errorf("QuorumSize after a leave = %d, want %d", got, want)
	}
	wantState(t, nodes[0], "n3", "left")
}

// wantState checks that n lists member name in state, beside the alive
// members.
func wantState(t *testing.T, n *Node, name, state string) {
	t.Helper()
	got := map[string]string{}
	for _, m := range n.MemberStates() {
		got[m.Name] = m.State
	}
	if got[name] != state || got[n.Name()] != "alive" {
		t.Errorf("MemberStates = %v; want %s %s and %s alive", got, name, state, n.Name())
	}
}

func TestCrashSeenAsFailure(t *testing.T) {
	nodes := newTestCluster(t, 4, testKey)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := nodes[0].Watch(wctx, 16).C
	start := time.Now()
	nodes[3].Close() // no leave: a crash
	e := waitEventAfterJoin(t, events, "n3")
	if e.Type != EventFail {
		t.Fatalf("event for n3 = %v, want fail", e.Type)
	}
	t.Logf("failure detected after %v", time.Since(start))
	// A failed member still counts in the quorum basis.
	if got, want := nodes[0].QuorumSize(), 3; got != want {
		t.Errorf("QuorumSize after a crash = %d, want %d", got, want)
	}
	wantState(t, nodes[0], "n3", "failed")
}

func TestExpectedSizeSetsQuorum(t *testing.T) {
	n, err := New(Config{Name: "solo", BindAddr: "127.0.0.1:0", Profile: Local, ExpectedSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got, want := n.QuorumSize(), 4; got != want {
		t.Errorf("QuorumSize = %d, want %d", got, want)
	}
}

func TestTagsGossiped(t *testing.T) {
	a, err := New(Config{Name: "a", BindAddr: "127.0.0.1:0", Profile: Local, Tags: map[string]string{"role": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := newTestNode(t, "b", nil)
	if _, err := b.Join(context.Background(), a.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b sees a", func() bool { return len(b.Members()) == 2 })
	m := b.Members()[0]
	if m.Name != "a" || m.Tags["role"] != "web" || len(m.Tags) != 1 {
		t.Errorf("b sees %+v, want a with only tag role=web", m)
	}
	if m.Addr != a.Addr() {
		t.Errorf("member address = %s, want %s", m.Addr, a.Addr())
	}
}

func TestCloseIdempotent(t *testing.T) {
	n := newTestNode(t, "a", nil)
	events := n.Watch(context.Background(), 1).C
	if err := n.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range events { // drains what came before Close; ends when closed
	}
	if _, err := n.Join(context.Background(), "127.0.0.1:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close = %v, want ErrClosed", err)
	}
	if err := n.Call(context.Background(), "a", "x", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close = %v, want ErrClosed", err)
	}
	if err := n.Leave(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Leave after Close = %v, want ErrClosed", err)
	}
}

// waitEvent returns the first event about member, failing after 10 s.
func waitEvent(t *testing.T, events <-chan Event, member string) Event {
	t.Helper()
	return waitEventSkipping(t, events, member, 0)
}

// waitEventAfterJoin is waitEvent for a member that joined before the
// subscription: its join event may still be on its way (a cluster is
// formed once every member list agrees, which can come before a node has
// delivered the join to its subscribers), so joins of it are skipped.
func waitEventAfterJoin(t *testing.T, events <-chan Event, member string) Event {
	t.Helper()
	return waitEventSkipping(t, events, member, EventJoin)
}

func waitEventSkipping(t *testing.T, events <-chan Event, member string, skip EventType) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Member.Name == member && (skip == 0 || e.Type != skip) {
				return e
			}
		case <-timeout:
			t.Fatalf("no event about %s within 10s", member)
		}
	}
}

// BenchmarkConverge5 measures, on real loopback sockets with a key, the
// time from five fresh Local nodes joining through one seed until every
// node sees all five.
func BenchmarkConverge5(b *testing.B) {
	for b.Loop() {
		nodes := make([]*Node, 5)
		for i := range nodes {
			n, err := New(Config{Name: fmt.Sprintf("b%d", i), BindAddr: "127.0.0.1:0", SecretKey: testKey, Profile: Local})
			if err != nil {
				b.Fatal(err)
			}
			nodes[i] = n
		}
		for _, n := range nodes[1:] {
			if _, err := n.Join(context.Background(), nodes[0].Addr()); err != nil {
				b.Fatal(err)
			}
		}
		want := names(nodes...)
		for deadline := time.Now().Add(10 * time.Second); !allSee(nodes, want); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("no convergence within 10s")
			}
		}
		b.StopTimer()
		for _, n := range nodes {
			n.Close()
		}
		b.StartTimer()
	}
}

func TestSetTags(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	if err := nodes[0].SetTags(map[string]string{"role": "db", "_tp": "resize,send"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 sees n0's tags", func() bool {
		m := nodes[1].Members()[0]
		return m.Tags["role"] == "db" && m.Tags["_tp"] == "resize,send"
	})
	if err := nodes[0].SetTags(map[string]string{"role": ""}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 sees the tag removed", func() bool {
		_, ok := nodes[1].Members()[0].Tags["role"]
		return !ok
	})
	if err := nodes[0].SetTags(map[string]string{"_rpc": "x"}); err == nil {
		t.Error("SetTags may change _rpc")
	}
	if err := nodes[0].SetTags(map[string]string{"big": strings.Repeat("x", 600)}); err == nil {
		t.Error("SetTags accepted 600 bytes of tags")
	}
}

// A node's MembersVersion moves on every change a caller of Members can
// see: a join, a tag update (its own and another's), a failure; and
// stays put while nothing changes.
func TestMembersVersion(t *testing.T) {
	nodes := newTestCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	moved := func(what string, before uint64, change func()) uint64 {
		t.Helper()
		change()
		waitFor(t, 5*time.Second, what, func() bool { return a.MembersVersion() > before })
		return a.MembersVersion()
	}
	v := a.MembersVersion()
	if v == 0 {
		t.Fatal("MembersVersion is 0 after two members joined")
	}
	v = moved("another's tags", v, func() {
		if err := b.SetTags(map[string]string{"role": "db"}); err != nil {
			t.Fatal(err)
		}
	})
	v = moved("own tags", v, func() {
		if err := a.SetTags(map[string]string{"role": "web"}); err != nil {
			t.Fatal(err)
		}
	})
	// Quiet: nothing changes, the version stays.
	members := a.Members()
	for range 3 {
		if got := a.MembersVersion(); got != v {
			t.Fatalf("MembersVersion moved from %d to %d with no change (members %v)", v, got, members)
		}
		time.Sleep(100 * time.Millisecond)
	}
	moved("a failure", v, func() { b.Close() })
	if got := memberNames(a); len(got) != 1 {
		t.Errorf("a sees %v after b closed", got)
	}
}
