package election_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
)

// A leader resigns while two candidates wait, then campaigns again at
// once: the next lease starts within a voter round and a message of the
// release, not a gossip round, a settle or a deferral's sleep later.
func TestSimResignHandsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wins := make(chan *election.Elected, 3)
		campaign := func(e *election.Elector, id string) {
			go func() {
				for ctx.Err() == nil {
					el, err := e.Elect(ctx, id)
					if err != nil {
						return
					}
					wins <- el
					<-el.Revoked()
				}
			}()
		}
		campaign(els[2], "c")
		el := <-wins
		campaign(els[0], "a")
		campaign(els[1], "b")
		// Let a's and b's campaign announcements reach every node.
		time.Sleep(election.DefaultLeaseTTL(cluster.Local))
		for i := range 5 {
			start := time.Now()
			if err := el.Resign(ctx); err != nil {
				t.Fatal(err)
			}
			el = <-wins
			took := time.Since(start)
			t.Logf("handover %d: %v to %s (virtual)", i, took, el.ID())
			if took > handoverBound {
				t.Errorf("handover %d took %v, want at most %v", i, took, handoverBound)
			}
		}
		el.Resign(ctx)
	})
}

// handoverBound is what a resignation may take on the simulated network:
// the release's voter round and the notice, and the claim's round.
const handoverBound = 5 * time.Millisecond

// A candidate preempts the leader, wins and its process crashes before
// it can announce the win: the deposed leader heard it campaign, and
// must not defer to it past the voters' hold of its grant and a claim
// round.
func TestSimCandidateCrashedAfterWinningHoldsOffNoLonger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 5)
		els := electors(t, c)
		ttl := election.DefaultLeaseTTL(cluster.Local)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		crashed := make(chan time.Time, 1)
		election.SetTestHook(els[4], func(point string) {
			if point != election.HookWon {
				return
			}
			crashed <- time.Now()
			go c.Crash("n5")
			// The process is gone: it never installs nor announces.
			time.Sleep(10 * ttl)
		})
		mid, err := els[3].Elect(ctx, "mid")
		if err != nil {
			t.Fatal(err)
		}
		// high preempts mid, wins and crashes at once; mid campaigns
		// again as soon as its lease ends, and defers to high, which it
		// heard campaign.
		go els[4].Elect(ctx, "high")
		<-mid.Revoked()
		won := make(chan *election.Elected, 1)
		go func() {
			if mid.Reelect(ctx) == nil {
				won <- mid
			}
		}()
		at := <-crashed
		checkTakeover(ctx, t, <-won, at, ttl*5/4+200*time.Millisecond, "hold and a claim round")
	})
}

// checkTakeover checks that el won within bound of at (the crash), and
// resigns.
func checkTakeover(ctx context.Context, t *testing.T, el *election.Elected, at time.Time, bound time.Duration, why string) {
	t.Helper()
	took := time.Since(at)
	t.Logf("new leader %s %v after the crash (virtual)", el.ID(), took)
	if took > bound {
		t.Errorf("new leader after %v, want at most %v (%s)", took, bound, why)
	}
	el.Resign(ctx)
}

// A candidate announces its campaign and crashes before it claims: the
// others, which defer to it, claim within the lifetime of its
// announcement (1.25 TTL) and a claim round, not a deferral's sleep
// later; sooner once the cluster reports the node failed.
func TestSimCandidateCrashedAfterAnnouncingHoldsOffNoLonger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 5)
		electors(t, c) // every node votes
		ttl := election.DefaultLeaseTTL(cluster.Local)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mid, err := election.New(c.Node("n4"), election.Group("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer mid.Close()
		time.Sleep(ttl) // mid's Elector has listened long enough: no settle
		// high's Elector is new: its campaign listens a while before it
		// claims, and the node crashes meanwhile.
		high, err := election.New(c.Node("n5"), election.Group("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer high.Close()
		go high.Elect(ctx, "high")
		time.Sleep(50 * time.Millisecond) // its announcement spreads
		won := make(chan *election.Elected, 1)
		go func() {
			if el, err := mid.Elect(ctx, "mid"); err == nil {
				won <- el
			}
		}()
		time.Sleep(50 * time.Millisecond)
		c.Crash("n5")
		at := time.Now()
		checkTakeover(ctx, t, <-won, at, ttl*5/4+50*time.Millisecond, "the announcement's lifetime and a claim round")
	})
}
