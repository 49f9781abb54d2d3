package raftgroup

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// TestCopiesOvertakeAndDuplicate drives a group whose every message also
// travels as a copy (TryStep) that may be lost or overtake the original,
// which always arrives, in order, later: what a datagram beside a slow
// stream does. Every proposal is applied once, in one order on every
// member, and a copy that overtook an append it depends on (the copy of
// that append was lost) is dropped rather than refused: a refusal makes
// the leader probe and send everything since again, and no append is
// refused here without copies.
func TestCopiesOvertakeAndDuplicate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		c.waitLeader(c.ids(), 2*time.Second)
		var mu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2))
		var rejects atomic.Int64
		c.net.setDrop(func(from uint64, m *raftpb.Message) bool {
			if m.GetType() == raftpb.MsgAppResp && m.GetReject() {
				rejects.Add(1)
			}
			return false
		})
		c.net.setCopy(func(from uint64, m *raftpb.Message) (time.Duration, bool) {
			mu.Lock()
			defer mu.Unlock()
			if rng.IntN(4) == 0 {
				return 0, false // the datagram lost
			}
			return time.Duration(rng.IntN(3)) * time.Millisecond, true
		})
		c.net.delay = 3 * time.Millisecond
		for i := range 200 {
			lead := c.waitLeader(c.ids(), 5*time.Second)
			propose(t, c.groups[lead], fmt.Sprint("cmd-", i))
		}
		log := c.waitConverged(10 * time.Second)
		c.checkPrefixes()
		seen := map[string]bool{}
		for _, a := range log {
			if seen[a.Data] {
				t.Errorf("%q applied twice", a.Data)
			}
			seen[a.Data] = true
		}
		if len(seen) != 200 {
			t.Errorf("applied %d distinct commands, want 200", len(seen))
		}
		if n := rejects.Load(); n > 0 {
			t.Errorf("%d appends refused: copies that overtook their predecessors were refused, not dropped", n)
		}
	})
}
