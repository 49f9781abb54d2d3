package cluster

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A NonVoter member is in Members but not in VotingMemberNames, and a
// crash of one leaves the others' quorum basis as it was.
func TestNonVoterOutOfQuorumBasis(t *testing.T) {
	nodes := newTestCluster(t, 3, testKey)
	nv, err := New(Config{Name: "client", BindAddr: "127.0.0.1:0", Profile: Local, SecretKey: testKey, NonVoter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nv.Close()
	if _, err := nv.Join(context.Background(), nodes[0].Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the client seen by all", func() bool { return allSee(append(nodes, nv), names(append(nodes, nv)...)) })
	for _, n := range append(nodes, nv) {
		if got := n.VotingMemberNames(); !slices.Equal(got, []string{"n0", "n1", "n2"}) {
			t.Errorf("%s.VotingMemberNames() = %v; want n0 n1 n2", n.Name(), got)
		}
	}
	nv.Close() // a crash: no leave
	waitFor(t, 10*time.Second, "the client's failure", func() bool {
		return !slices.Contains(nodes[0].MemberNames(), "client")
	})
	for _, n := range nodes {
		if got := n.QuorumSize(); got != 2 {
			t.Errorf("%s.QuorumSize() = %d after a NonVoter crashed; want 2 (of 3)", n.Name(), got)
		}
	}
}
