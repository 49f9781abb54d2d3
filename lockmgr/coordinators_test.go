package lockmgr_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// In quorum mode every acquisition is coordinated by the voters'
// leader, whichever node asks and whichever member owns the id on the
// ring; once the leader changes, by the new one. Tests that pin the
// coordinator to the ring (SetRingCoordinators) get the ring's owner.
func TestSimLeaderCoordinates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		leader := func() string { // by a member that stays
			var on string
			for on = range e.m {
				break
			}
			svc, release := voters.Acquire(e.c.Node(on))
			defer release()
			return svc.Info().Leader
		}
		lead := leader()
		for _, node := range e.c.Names() {
			for i := range 4 {
				id := fmt.Sprintf("%s-%d", node, i)
				l, h := e.acquire(t, node, id)
				if got := lockmgr.Coordinator(l); got != lead {
					t.Errorf("%s Acquire(%q) coordinated by %s, want the leader %s", node, id, got, lead)
				}
				e.rec.release(t, h, l)
			}
		}
		// The leader leaves: the next acquisitions go to its successor
		// once the others know it.
		e.m[lead].Close()
		delete(e.m, lead)
		e.c.Node(lead).Leave(t.Context())
		var next string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if next = leader(); next != "" && next != lead || time.Now().After(deadline) {
				break
			}
		}
		if next == "" || next == lead {
			t.Fatalf("no new leader after %s left", lead)
		}
		// Gossip names the new leader everywhere, then each node asks it.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			all := true
			for node, m := range e.m {
				if m.Coordinator("after-"+node) != next {
					all = false
				}
			}
			if all {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the nodes do not all name the new leader %s as the coordinator", next)
			}
		}
		for node := range e.m {
			l, h := e.acquire(t, node, "after-"+node)
			if got := lockmgr.Coordinator(l); got != next {
				t.Errorf("%s Acquire after the change coordinated by %s, want the new leader %s", node, got, next)
			}
			e.rec.release(t, h, l)
		}
	})
}
