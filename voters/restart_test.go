package voters_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// A rolling restart of every node of a five-node cluster, one at a
// time, keeps the group and its table: each restarted node comes back
// as a new incarnation (new Raft ID) that replaces its old member, and
// after the rollout claims get tokens above those issued before it.
//
// Down is how long each node stays down: at once, or beyond failAfter
// (2 s), when the leader has already removed it and shrunk to three
// voters (four live nodes) before it comes back.
func TestRollingRestart(t *testing.T) {
	for _, down := range []time.Duration{0, 3 * time.Second} {
		t.Run("down="+down.String(), func(t *testing.T) { testRollingRestart(t, down) })
	}
}

func testRollingRestart(t *testing.T, down time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 5, 6)
		e.waitWhole(20*time.Second, 5)
		group := e.s("n1").State().Group
		h := leases.Holder{Node: "n3", Owner: "idle"}
		r := do(t, e.s("n3"), 5*time.Second, claim("idle", h, time.Second))
		if !r.OK {
			t.Fatalf("claim: %+v", r)
		}
		t0 := r.Token
		if r := do(t, e.s("n3"), 5*time.Second, leases.Cmd{Op: leases.OpRelease, Key: "idle", Holder: h, Token: t0}); !r.OK {
			t.Fatalf("release: %+v", r)
		}
		for _, name := range e.c.Names() {
			old := e.s(name).State().ID
			wasLeader := e.leader() == name
			start := time.Now()
			e.crash(name)
			if down > 0 {
				e.waitWhole(30*time.Second, 3)
				time.Sleep(down - time.Since(start)) // stays down that long in all
			}
			s := e.restart(name)
			e.waitWhole(30*time.Second, 5)
			t.Logf("restart of %s (leader: %v): whole again %v after the crash", name, wasLeader, time.Since(start))
			st := s.State()
			if st.ID == 0 || st.ID == old {
				t.Fatalf("%s's member is %x (old incarnation %x)", name, st.ID, old)
			}
			if st.Group != group {
				t.Fatalf("%s is in group %x, not %x", name, st.Group, group)
			}
		}
		for name, s := range e.live() {
			if g := s.State().Group; g != group {
				t.Errorf("%s is in group %x after the rollout, not %x", name, g, group)
			}
		}
		r = do(t, e.s("n2"), 5*time.Second, claim("idle", leases.Holder{Node: "n2"}, time.Second))
		if !r.OK || r.Token <= t0 {
			t.Errorf("claim of idle after the rollout: %+v; want a token above %d", r, t0)
		}
		r = do(t, e.s("n4"), 5*time.Second, claim("never-used", leases.Holder{Node: "n4"}, time.Second))
		if !r.OK || r.Token <= t0 {
			t.Errorf("claim of a new key after the rollout: %+v; want a token above %d", r, t0)
		}
	})
}
