package voters_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// A voter cut off from the others for longer than failAfter (2 s) is
// removed (and, four nodes being left, one more voter to keep the number
// odd). When it comes back it must rejoin under a new Raft ID: a removed
// ID is never added back (raftgroup's hazards). It does not hear of its
// removal (the leader no longer sends it anything), so it must notice
// that it is cut off from the group's leader.
func TestPartitionedVoterReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 5, 12)
		e.waitWhole(20*time.Second, 5)
		x := ""
		for _, name := range sortedKeys(e.live()) {
			if !e.s(name).State().Leader {
				x = name
			}
		}
		old := e.s(x).State()
		var others []string
		for _, name := range sortedKeys(e.live()) {
			if name != x {
				others = append(others, name)
			}
		}
		e.c.Partition([]string{x}, others)
		waitFor(t, 20*time.Second, "3 voters without "+x, func() bool {
			ss := e.live()
			delete(ss, x)
			ok, _ := whole(ss, 3)
			return ok
		})
		time.Sleep(3 * time.Second)
		e.c.Heal()
		took := e.waitWhole(60*time.Second, 5)
		st := e.s(x).State()
		t.Logf("%s back: 5 voters again %v after the heal; its member %x, before %x", x, took, st.ID, old.ID)
		if st.ID == old.ID {
			t.Errorf("%s's removed member %x was added back", x, old.ID)
		}
		if r := do(t, e.s(x), 5*time.Second, claim("k", leases.Holder{Node: x}, time.Second)); !r.OK {
			t.Errorf("claim through %s: %+v", x, r)
		}
	})
}
