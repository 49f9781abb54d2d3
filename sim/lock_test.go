package sim

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// A pause cuts the node off for its length, a Heal during it does not
// thaw the node, and the paused holders' late writes are refused by the
// Fence when newer tokens were granted meanwhile.
func TestPauseAndLockWorkload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 3, nil)
		w, err := StartLocks(c, LockOptions{TTL: 400 * time.Millisecond, MaxHold: 2 * time.Second, Clients: 3, Seed: 1})
		if err != nil {
			t.Fatalf("StartLocks: %v", err)
		}
		time.Sleep(2 * time.Second)
		holders := w.Holders()
		if len(holders) == 0 {
			t.Fatal("nobody holds a lock")
		}
		victim := holders[0]
		paused := time.Now()
		c.Pause(victim, 3*time.Second)
		time.Sleep(100 * time.Millisecond)
		c.Heal()
		converge(t, c, 2*time.Second, "the others drop the paused node") // and it drops them
		for _, n := range c.Nodes() {
			if got := len(n.Members()); (n.Name() == victim) != (got == 1) {
				t.Errorf("%s sees %d members during the pause of %s", n.Name(), got, victim)
			}
		}
		time.Sleep(time.Until(paused.Add(3 * time.Second)))
		converge(t, c, 10*time.Second, "after the pause")
		w.Close()
		h := w.History()
		v := check.CheckLocks(h)
		t.Logf("%d grants, late writes %+v, paused overlaps %d, %s", v.Grants, v.Late, v.Paused.N, v.Porcupine)
		if v.L1.N+v.L2.N+v.L3.N != 0 || v.NotLinearizable {
			t.Errorf("violations: L1 %v L2 %v L3 %v; %s", v.L1.First, v.L2.First, v.L3.First, v.Porcupine)
		}
		if v.Late.Accepted != 0 || v.Late.Rejected+v.Late.Harmless == 0 {
			t.Errorf("late writes %+v; want some, none accepted after a newer grant", v.Late)
		}
	})
}
