package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain does not call oneproc.UnderRace, unlike the packages built on
// the simulation: these tests run on real sockets in real time, where one
// P under the race detector starves memberlist's probes until members
// are declared failed, and the one bubble here (TestLogLimiter) runs one
// timer at a time.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = []byte("0123456789abcdef0123456789abcdef")

// newTestNode starts a Local-profile node on loopback, closed at cleanup.
func newTestNode(t testing.TB, name string, key []byte) *Node {
	t.Helper()
	n, err := New(Config{Name: name, BindAddr: "127.0.0.1:0", SecretKey: key, Profile: Local})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// newTestCluster starts size nodes n0..n{size-1} joined through n0.
func newTestCluster(t testing.TB, size int, key []byte) []*Node {
	t.Helper()
	nodeNames := make([]string, size)
	for i := range nodeNames {
		nodeNames[i] = fmt.Sprintf("n%d", i)
	}
	return newNamedCluster(t, key, nodeNames...)
}

// newNamedCluster starts a node per name, joined through the first.
func newNamedCluster(t testing.TB, key []byte, nodeNames ...string) []*Node {
	t.Helper()
	nodes := make([]*Node, len(nodeNames))
	for i, name := range nodeNames {
		nodes[i] = newTestNode(t, name, key)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join(context.Background(), nodes[0].Addr()); err != nil {
			t.Fatalf("%s joins: %v", n.Name(), err)
		}
	}
	waitFor(t, 10*time.Second, "all members see each other", func() bool {
		return allSee(nodes, names(nodes...))
	})
	return nodes
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func names(nodes ...*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name())
	}
	slices.Sort(out)
	return out
}

func memberNames(n *Node) []string {
	var out []string
	for _, m := range n.Members() {
		out = append(out, m.Name)
	}
	return out
}

// allSee reports whether every node's member list is exactly want.
func allSee(nodes []*Node, want []string) bool {
	for _, n := range nodes {
		if !slices.Equal(memberNames(n), want) {
			return false
		}
	}
	return true
}
