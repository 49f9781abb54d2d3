package election_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// simElection starts a Local cluster and an election workload on it,
// inside the current synctest bubble, and checks E1-E3 at the end.
func simElection(t *testing.T, nodes int, opts ...election.Option) (*sim.Cluster, *sim.ElectionWorkload) {
	t.Helper()
	c := simtest.Start(t, nodes, 1)
	w, err := sim.StartElection(c, "g", opts...)
	if err != nil {
		t.Fatalf("StartElection: %v", err)
	}
	t.Cleanup(func() {
		w.Close()
		v := check.CheckElection(w.Leases(), time.Now())
		for _, p := range [][]string{v.E1, v.E2, v.E3} {
			for _, s := range p {
				t.Error(s)
			}
		}
		for _, f := range w.Failures() {
			t.Error("workload:", f)
		}
	})
	return c, w
}

// waitLeader waits until exactly one lease is open and returns it.
func waitLeader(t *testing.T, w *sim.ElectionWorkload, within time.Duration) check.LeaseRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l, ok := w.Current(); ok {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no single leader within %v; leases: %+v", within, w.Leases())
	return check.LeaseRecord{}
}

// waitNewLeader waits for a leader other than old.
func waitNewLeader(t *testing.T, w *sim.ElectionWorkload, old check.LeaseRecord, within time.Duration) check.LeaseRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l, ok := w.Current(); ok && l.Term != old.Term {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no new leader after term %d within %v; leases: %+v", old.Term, within, w.Leases())
	return check.LeaseRecord{}
}

func TestSimBullyOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, w := simElection(t, 5)
		l := waitLeader(t, w, 10*time.Second)
		if l.Node != "n5" {
			t.Errorf("leader is %s, want n5 (highest name)", l.Node)
		}
	})
}

func TestSimLeaderCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := simElection(t, 5)
		old := waitLeader(t, w, 10*time.Second)
		crashed := time.Now()
		c.Crash(old.Node)
		l := waitNewLeader(t, w, old, 10*time.Second)
		t.Logf("failover after crash: %v (virtual)", l.Start.Sub(crashed))
		if l.Node != "n4" {
			t.Errorf("new leader %s, want n4", l.Node)
		}
		if l.Term <= old.Term {
			t.Errorf("new term %d not above %d", l.Term, old.Term)
		}
	})
}

// A leader that led for many TTLs crashes: the next in bully order wins
// at once, with no term for a lower candidate first. Every lower one had
// deferred to n4 for longer than its patience with a higher candidate
// (3 TTL); counting that patience from the leader's end, not from when
// the deferring began, keeps them from racing for the free key and being
// preempted in turn (a cascade of handovers, each a gap without leader).
func TestSimLeaderCrashAfterLongTerm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := simElection(t, 5)
		old := waitLeader(t, w, 10*time.Second)
		time.Sleep(10 * election.DefaultLeaseTTL(cluster.Local))
		crashed := time.Now()
		c.Crash(old.Node)
		l := waitNewLeader(t, w, old, 10*time.Second)
		t.Logf("failover after crash: %v (virtual)", l.Start.Sub(crashed))
		time.Sleep(5 * time.Second)
		for _, r := range w.Leases() {
			if r.Start.After(crashed) && r.Node != "n4" {
				t.Errorf("%s led term %d after the crash, want only n4: %+v", r.Node, r.Term, w.Leases())
			}
		}
	})
}

func TestSimLeaderIsolatedInMinority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := simElection(t, 5)
		old := waitLeader(t, w, 10*time.Second)
		c.Partition([]string{"n5", "n1"}, []string{"n2", "n3", "n4"})
		l := waitNewLeader(t, w, old, 15*time.Second)
		if l.Node == "n5" || l.Node == "n1" {
			t.Fatalf("minority node %s leads", l.Node)
		}
		for _, r := range w.Leases() {
			if r.Term == old.Term && (r.End.IsZero() || r.End.After(l.Start)) {
				t.Fatalf("old leader revoked at %v, after the new lease started at %v", r.End, l.Start)
			}
		}
		c.Heal()
		// After the heal, n5 (highest) may preempt, but one leader remains.
		waitLeader(t, w, 15*time.Second)
	})
}

// A split that leaves no side with a majority of the voters (five
// nodes, five voters, split 2/2/1) elects nobody; the old leader loses its
// lease. After the heal a leader is elected again.
func TestSimSplitWithoutVoterMajorityNobodyLeads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := simElection(t, 5)
		old := waitLeader(t, w, 10*time.Second)
		c.Partition([]string{"n1", "n2"}, []string{"n3", "n4"}, []string{"n5"})
		time.Sleep(10 * time.Second) // observe: no side may elect anyone
		for _, l := range w.Leases() {
			if l.Term != old.Term {
				t.Fatalf("a leader was elected with no majority of the voters: %+v", l)
			}
			if l.End.IsZero() {
				t.Fatalf("the old leader still holds its lease 10s into a 2/2/1 split")
			}
		}
		c.Heal()
		l := waitNewLeader(t, w, old, 15*time.Second)
		t.Logf("after heal: %s leads term %d", l.Node, l.Term)
	})
}

func TestSimResign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := simElection(t, 3)
		var els []*election.Elector
		for _, n := range c.Nodes() {
			e, err := election.New(n, election.Group("resign"))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			els = append(els, e)
		}
		ctx := context.Background()
		first, err := els[2].Elect(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan *election.Elected, 1)
		go func() {
			el, err := els[0].Elect(ctx, "b")
			if err != nil {
				t.Error(err)
			}
			got <- el
		}()
		synctest.Wait() // b is campaigning, blocked behind a's lease
		start := time.Now()
		if err := first.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-first.Revoked():
		default:
			t.Fatal("Revoked still open after Resign")
		}
		second := <-got
		t.Logf("handover after resign: %v (virtual)", time.Since(start))
		if time.Since(start) >= time.Second {
			t.Errorf("handover took %v, want less than the 1s lease", time.Since(start))
		}
		if second.Term() <= first.Term() {
			t.Errorf("term %d after resign is not above %d", second.Term(), first.Term())
		}
		second.Resign(ctx)
	})
}

func TestSimPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := simElection(t, 3)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var els []*election.Elector
		for _, n := range c.Nodes() {
			prio := 0
			if n.Name() == "n1" {
				prio = 10
			}
			e, err := election.New(n, election.Group("prio"), election.Priority(prio))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			els = append(els, e)
			go e.Elect(ctx, "x") // losers block until cancel
		}
		waitFollow(t, els[1], "n1")
	})
}

func TestSimManyGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := simElection(t, 3)
		groups := []string{"a", "b", "c", "d"}
		var ws []*sim.ElectionWorkload
		for _, g := range groups {
			w, err := sim.StartElection(c, g)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ws = append(ws, w)
		}
		for i, w := range ws {
			l := waitLeader(t, w, 10*time.Second)
			if l.Group != groups[i] || l.Node != "n3" {
				t.Errorf("group %s: leader %+v, want n3", groups[i], l)
			}
		}
		c.Crash("n3")
		for _, w := range ws {
			if l := waitNewLeader(t, w, check.LeaseRecord{}, 10*time.Second); l.Node != "n2" {
				t.Errorf("after crash: leader %+v, want n2", l)
			}
		}
		for i, w := range ws {
			if v := check.CheckElection(w.Leases(), time.Now()); !v.OK() {
				t.Errorf("group %s: %+v", groups[i], v)
			}
		}
	})
}

// waitFollow follows e until node leads, or fails after 10 s.
func waitFollow(t *testing.T, e *election.Elector, node string) election.Leader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last election.Leader
	for l := range e.Follow(ctx) {
		last = l
		if l.Node == node {
			return l
		}
	}
	t.Fatalf("%s did not lead within 10s; last seen %+v", node, last)
	return last
}

// A higher-ranked candidate that starts campaigning later takes over: the
// leader is revoked at its next heartbeat, and the leases do not overlap.
func TestSimLateHigherCandidatePreempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx := context.Background()
		low, err := els[0].Elect(ctx, "low")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var revokedAt time.Time
		go func() {
			<-low.Revoked()
			revokedAt = time.Now()
		}()
		high, err := els[2].Elect(ctx, "high")
		if err != nil {
			t.Fatal(err)
		}
		won := time.Now()
		select {
		case <-low.Revoked():
		default:
			t.Fatal("the lower leader still holds its lease after the higher one won")
		}
		synctest.Wait() // the watcher has recorded the revocation
		t.Logf("preempted in %v (virtual); the new lease started %v after the old one was revoked", time.Since(start), won.Sub(revokedAt))
		// The preempted leader learns of its end through Revoked, a moment
		// after the library closes it; the voters keep its grant a
		// quarter lease longer, so no new lease starts meanwhile.
		if gap := won.Sub(revokedAt); gap < election.DefaultLeaseTTL(cluster.Local)/4 {
			t.Errorf("the new lease started %v after the old one was revoked; want at least a quarter lease", gap)
		}
		if high.Term() <= low.Term() {
			t.Errorf("term %d not above %d", high.Term(), low.Term())
		}
	})
}

// A restarted node's voter backs no lease while quiet, but still reports
// the leader it hears at once.
func TestSimRestartedNodeSeesLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := simElection(t, 3)
		l := waitLeader(t, w, 10*time.Second)
		victim := "n1"
		if l.Node == victim {
			victim = "n2"
		}
		c.Crash(victim)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Restart(ctx, victim); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		leader := waitFollow(t, w.Elector(victim), l.Node)
		if d := time.Since(restarted); d > time.Second {
			t.Errorf("restarted node saw the leader after %v, want within the 1s quiet period", d)
		}
		if leader.Term != l.Term {
			t.Errorf("restarted node sees term %d, want %d", leader.Term, l.Term)
		}
	})
}

// With NoPreempt, a higher candidate that arrives later waits for the
// lease to end instead of deposing the leader.
func TestSimNoPreempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c, election.NoPreempt())
		ctx := context.Background()
		low, err := els[0].Elect(ctx, "low")
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := els[2].Elect(short, "high"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("higher candidate with NoPreempt: Elect = %v, want to keep waiting", err)
		}
		select {
		case <-low.Revoked():
			t.Fatal("the leader was deposed despite NoPreempt")
		default:
		}
	})
}

// A higher candidate that only a minority of voters hear (here through a
// bridge node) cannot win, so the leader must not yield to it: that would
// make leadership flap for as long as the cut lasts.
func TestSimHigherCandidateAcrossBridgeDoesNotPreempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 5)
		els := electors(t, c)
		low, err := els[0].Elect(context.Background(), "low")
		if err != nil {
			t.Fatal(err)
		}
		// n4 reaches both sides; n5 reaches only n4.
		c.Partition([]string{"n1", "n2", "n3"}, []string{"n5"})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		highErr := make(chan error, 1)
		go func() {
			_, err := els[4].Elect(ctx, "high")
			highErr <- err
		}()
		select {
		case <-low.Revoked():
			t.Fatalf("the leader was revoked; the higher candidate reaches only a minority")
		case err := <-highErr:
			t.Fatalf("the higher candidate won without a majority (err %v)", err)
		case <-ctx.Done():
		}
		if err := <-highErr; !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, election.ErrNoQuorum) {
			t.Errorf("the higher candidate's Elect = %v, want it to time out", err)
		}
	})
}

// A leader deposed by a higher candidate that then gave up campaigns again
// each time its lease ends, as the clock's reference does. It must not win
// its own voters back while they still hold its old grant (a quarter lease
// after Revoked), and the preemption, made against the old lease, must not
// depose the new one: otherwise it wins and loses term after term with no
// pause in between, and on a virtual clock this test never ends.
func TestSimDeposedLeaderCampaignsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		low, err := els[0].Elect(ctx, "low")
		if err != nil {
			t.Fatal(err)
		}
		first := low.Term()
		type win struct {
			after time.Duration // since the previous lease was revoked
			term  uint64
		}
		var wins []win
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-low.Revoked():
				case <-ctx.Done():
					return
				}
				revoked := time.Now()
				if low.Reelect(ctx) != nil {
					return
				}
				wins = append(wins, win{time.Since(revoked), low.Term()})
			}
		}()
		// The higher candidate (an Elector that never led: it settles
		// first) gives up before the deposed leader frees its grant (a
		// quarter lease after it learns of the preemption, at its next
		// renewal), so it cannot have won.
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := els[2].Elect(short, "high"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("higher candidate: Elect = %v, want it to give up", err)
		}
		time.Sleep(5 * time.Second)
		stop()
		<-done
		if len(wins) != 1 {
			t.Fatalf("after it was deposed the candidate won %d leases (%+v); want one that lasts, nobody else campaigns", len(wins), wins[:min(len(wins), 5)])
		}
		if quarter := election.DefaultLeaseTTL(cluster.Local) / 4; wins[0].after < quarter {
			t.Errorf("won again %v after it was deposed; want no sooner than its old grant is freed, a quarter lease", wins[0].after)
		}
		if wins[0].term > first+2 {
			t.Errorf("won again with term %d, %d terms after its first; want one claim", wins[0].term, wins[0].term-first)
		}
	})
}
