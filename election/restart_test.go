package election_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/election"
)

// A leader whose node crashes and restarts under its name, and campaigns
// again with the same candidate id, wins a new, higher term: its new
// Elector's campaign is not taken for the old incarnation's.
func TestSimRestartedLeaderGetsANewTerm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		old, err := els[2].Elect(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		c.Crash("n3")
		els[2].Close()
		time.Sleep(500 * time.Millisecond)
		n, err := c.Restart(ctx, "n3")
		if err != nil {
			t.Fatal(err)
		}
		e, err := election.New(n)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		el, err := e.Elect(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if el.Term() <= old.Term() {
			t.Errorf("restarted candidate got term %d, not above its old %d", el.Term(), old.Term())
		}
	})
}
