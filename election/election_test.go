package election_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/internal/oneproc"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

func TestMain(m *testing.M) {
	oneproc.UnderRace()
	goleak.VerifyTestMain(m)
}

func TestOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 1)
		tests := []struct {
			name string
			opts []election.Option
			ok   bool
		}{
			{"defaults", nil, true},
			{"all set", []election.Option{election.Group("g"), election.Priority(-3), election.LeaseTTL(time.Second)}, true},
			{"empty group", []election.Option{election.Group("")}, false},
			{"tiny ttl", []election.Option{election.LeaseTTL(time.Millisecond)}, false},
		}
		for _, tt := range tests {
			e, err := election.New(c.Node("n1"), tt.opts...)
			if (err == nil) != tt.ok {
				t.Errorf("%s: New error = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if e != nil {
				e.Close()
			}
		}
		if _, err := election.New(nil); err == nil {
			t.Error("New(nil) succeeded")
		}
	})
}

// startSim starts a Local sim cluster in the current bubble.
func startSim(t *testing.T, nodes int) *sim.Cluster { return simtest.Start(t, nodes, 2) }

// electors makes one Elector per node in group, closed at cleanup.
func electors(t *testing.T, c *sim.Cluster, opts ...election.Option) []*election.Elector {
	t.Helper()
	var out []*election.Elector
	for _, n := range c.Nodes() {
		e, err := election.New(n, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		out = append(out, e)
	}
	return out
}

func TestLeaderAndFollow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx := context.Background()
		if _, err := els[0].Leader(ctx); !errors.Is(err, election.ErrNoLeader) {
			t.Fatalf("Leader before any campaign = %v, want ErrNoLeader", err)
		}
		follow, stop := context.WithCancel(ctx)
		changes := els[0].Follow(follow)
		if l := <-changes; l != (election.Leader{}) {
			t.Fatalf("first Follow value = %+v, want no leader", l)
		}
		el, err := els[1].Elect(ctx, "svc-a")
		if err != nil {
			t.Fatal(err)
		}
		l := <-changes
		want := election.Leader{ID: "svc-a", Node: "n2", Term: el.Term()}
		if l != want {
			t.Fatalf("Follow saw %+v, want %+v", l, want)
		}
		synctest.Wait() // the first heartbeat has reached every node
		for _, e := range els {
			if got, err := e.Leader(ctx); err != nil || got != want {
				t.Errorf("Leader() = %+v, %v; want %+v", got, err, want)
			}
		}
		el.Resign(ctx)
		if l := <-changes; l != (election.Leader{}) {
			t.Fatalf("Follow after resign = %+v, want no leader", l)
		}
		stop()
		for range changes { // closes with ctx
		}
	})
}

func TestElectCancelAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx := context.Background()
		el, err := els[2].Elect(ctx, "holder")
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := els[0].Elect(short, "waiter"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Elect behind a live leader = %v, want DeadlineExceeded", err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := els[1].Elect(ctx, "closing")
			errc <- err
		}()
		synctest.Wait()
		els[1].Close()
		if err := <-errc; !errors.Is(err, election.ErrClosed) {
			t.Fatalf("Elect during Close = %v, want ErrClosed", err)
		}
		// Closing the leader's Elector resigns its lease.
		els[2].Close()
		select {
		case <-el.Revoked():
		default:
			t.Fatal("lease not revoked by Close")
		}
		if _, err := els[2].Leader(ctx); !errors.Is(err, election.ErrClosed) {
			t.Fatalf("Leader after Close = %v, want ErrClosed", err)
		}
	})
}

func TestReelect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		ctx := context.Background()
		el, err := els[0].Elect(ctx, "me")
		if err != nil {
			t.Fatal(err)
		}
		if err := el.Reelect(ctx); err != nil {
			t.Fatalf("Reelect while leading = %v", err)
		}
		first, revoked := el.Term(), el.Revoked()
		if err := el.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		if err := el.Resign(ctx); err != nil {
			t.Fatalf("second Resign = %v, want nil", err)
		}
		if err := el.Reelect(ctx); err != nil {
			t.Fatal(err)
		}
		if el.Term() <= first {
			t.Errorf("term after Reelect %d, want above %d", el.Term(), first)
		}
		if el.Revoked() == revoked {
			t.Error("Revoked() did not change after Reelect")
		}
		select {
		case <-el.Revoked():
			t.Error("new lease already revoked")
		default:
		}
	})
}

// The lease is lost when the leader can no longer reach a majority, and
// Revoked closes no later than the lease's end.
func TestRevokedInMinority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c, election.LeaseTTL(2*time.Second))
		el, err := els[0].Elect(context.Background(), "x")
		if err != nil {
			t.Fatal(err)
		}
		ctx := el.Context()
		if ctx.Err() != nil {
			t.Fatalf("Context of a held lease: %v", ctx.Err())
		}
		cut := time.Now()
		c.Partition([]string{"n1"}, []string{"n2", "n3"})
		<-el.Revoked()
		if d := time.Since(cut); d > 2*time.Second {
			t.Errorf("revoked %v after the cut, want within the 2s lease", d)
		}
		if !errors.Is(context.Cause(ctx), election.ErrRevoked) {
			t.Errorf("Context's cause after Revoked: %v, want ErrRevoked", context.Cause(ctx))
		}
	})
}

// zeroBased names loopback node i "n<i>": n0, n1, ...
func zeroBased(i int) cluster.Config { return cluster.Config{Name: fmt.Sprintf("n%d", i)} }

// Real sockets: five nodes elect one leader; closing it hands over.
func TestLoopbackFailover(t *testing.T) {
	nodes := clustertest.Start(t, 5, zeroBased)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wins := make(chan *election.Elected, 5)
	els := make([]*election.Elector, 5)
	for i, n := range nodes {
		e, err := election.New(n)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		els[i] = e
		go func() {
			if el, err := e.Elect(ctx, n.Name()); err == nil {
				wins <- el
			}
		}()
	}
	first := <-wins
	if first.ID() != "n4" {
		t.Errorf("first leader %s, want n4", first.ID())
	}
	start := time.Now()
	els[4].Close()
	select {
	case second := <-wins:
		t.Logf("failover after Close: %v", time.Since(start))
		if second.Term() <= first.Term() {
			t.Errorf("new term %d not above %d", second.Term(), first.Term())
		}
	case <-ctx.Done():
		t.Fatal("no new leader within 30s of the leader closing")
	}
}

func TestElectNoQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startSim(t, 3)
		els := electors(t, c)
		c.Partition([]string{"n1"}, []string{"n2", "n3"})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := els[0].Elect(ctx, "alone")
		if !errors.Is(err, election.ErrNoQuorum) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Elect in a minority = %v, want ErrNoQuorum and DeadlineExceeded", err)
		}
	})
}
