package election_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// Stats counts a win, the leader change every node sees, and the lease
// the leader loses when it is cut off; a Resign is no loss.
func TestSimStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 1)
		es := map[string]*election.Elector{}
		for _, n := range c.Nodes() {
			e, err := election.New(n, election.Group("g"))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { e.Close() })
			es[n.Name()] = e
		}
		waitStats := func(what, node string, cond func(election.Stats) bool) election.Stats {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				s := es[node].Stats()
				if cond(s) {
					return s
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: stats %+v after 30 s", what, s)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if s := es["n1"].Stats(); s != (election.Stats{Group: "g"}) {
			t.Errorf("stats before any election %+v, want zero counters", s)
		}
		ctx := context.Background()
		el, err := es["n3"].Elect(ctx, "c3")
		if err != nil {
			t.Fatalf("Elect: %v", err)
		}
		s := es["n3"].Stats()
		if s.Leading != 1 || s.Wins != 1 || s.Term != el.Term() || s.LeaseLosses != 0 {
			t.Errorf("leader's stats %+v, want Leading 1, Wins 1, Term %d, no loss", s, el.Term())
		}
		waitStats("a follower hears of the leader", "n1", func(s election.Stats) bool {
			return s.LeaderChanges == 1 && s.Term == el.Term() && s.Leading == 0 && s.Wins == 0
		})
		if err := el.Resign(ctx); err != nil {
			t.Fatalf("Resign: %v", err)
		}
		waitStats("after Resign", "n3", func(s election.Stats) bool { return s.Leading == 0 })
		if s := es["n3"].Stats(); s.LeaseLosses != 0 {
			t.Errorf("a Resign counted as a lease loss: %+v", s)
		}

		if err := el.Reelect(ctx); err != nil {
			t.Fatalf("Reelect: %v", err)
		}
		term := el.Term()
		c.Partition([]string{"n3"}, []string{"n1", "n2"})
		<-el.Revoked()
		s = waitStats("after the leader was cut off", "n3", func(s election.Stats) bool { return s.Leading == 0 })
		if s.LeaseLosses != 1 || s.Wins != 2 || s.Term < term {
			t.Errorf("stats of the cut-off leader %+v, want LeaseLosses 1, Wins 2, Term at least %d", s, term)
		}
		c.Heal()
	})
}
