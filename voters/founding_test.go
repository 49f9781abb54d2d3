package voters_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/voters"
)

// A majority of the members cut off from every voter must not found a
// second group: the voters, a majority of their own configuration, go
// on granting on their side, so a second group would grant a lock the
// first one holds. Eleven nodes, the five voters on one side and six
// clients (a majority of the members) on the other: the lowest name of
// the clients' side sees a majority, so only the rule that a process
// that saw a group never founds keeps it from founding, also once every
// client's service stopped and started again (the node remembers, not
// the service). Then that node restarts on its side, a process that never saw a group: only
// its peers' answers (poll) keep it from founding. After the heal one
// group is left, the first, and the lock it granted before the
// partition is still held.
func TestNoSecondGroupBesideALiveOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 11, 21)
		e.waitWhole(30*time.Second, 5)
		waitFor(t, 20*time.Second, "no learners", func() bool { return len(e.leaderState().Learners) == 0 })
		group := e.leaderState().Group
		var voterSide, clientSide []string
		for _, name := range sortedKeys(e.live()) {
			if e.s(name).State().ID != 0 {
				voterSide = append(voterSide, name)
			} else {
				clientSide = append(clientSide, name)
			}
		}
		if len(clientSide) != 6 {
			t.Fatalf("clients %v; want six", clientSide)
		}
		low := clientSide[0] // the lowest name on the clients' side
		held := do(t, e.s("n1"), 5*time.Second, claim("k", leases.Holder{Node: "n1"}, time.Minute))
		if !held.OK {
			t.Fatalf("claim: %+v", held)
		}
		waitFor(t, 10*time.Second, "every client to see the group and its leader", func() bool {
			for _, name := range clientSide {
				if in := e.s(name).Info(); in.Group != group || in.Leader == "" {
					return false
				}
			}
			return true
		})
		e.c.Partition(voterSide, clientSide)

		// noGroup checks, for d, that no client founds or joins a group
		// and that a claim through a client is never granted.
		noGroup := func(d time.Duration, what string) {
			t.Helper()
			deadline := time.Now().Add(d)
			for time.Now().Before(deadline) {
				for _, name := range clientSide {
					if st := e.s(name).State(); st.ID != 0 {
						t.Fatalf("%s: %s is a member of group %x (the first is %x)", what, name, st.Group, group)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				res, err := e.s(clientSide[1]).Do(ctx, []leases.Cmd{claim("k", leases.Holder{Node: clientSide[1]}, time.Second)})
				cancel()
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s: claim through %s: %+v, %v; want context.DeadlineExceeded", what, clientSide[1], res, err)
				}
			}
		}
		noGroup(10*time.Second, "partitioned")
		// The voters' side goes on.
		if r := do(t, e.s("n2"), 5*time.Second, claim("k2", leases.Holder{Node: "n2"}, time.Second)); !r.OK {
			t.Fatalf("claim on the voters' side: %+v", r)
		}
		// Every client's service stops and starts again: the nodes are
		// the processes that saw the group, and still remember it.
		for _, name := range clientSide {
			e.reacquire(name)
		}
		noGroup(10*time.Second, "the clients' services restarted")
		e.crash(low)
		e.restart(low)
		noGroup(10*time.Second, low+" restarted")

		e.c.Heal()
		start := time.Now()
		e.waitWhole(60*time.Second, 5)
		var why string
		waitFor(t, 60*time.Second, "every node to see the first group", func() bool {
			for name, s := range e.live() {
				if in := s.Info(); in.Group != group {
					why = fmt.Sprintf("%s sees group %x; want the first, %x", name, in.Group, group)
					return false
				}
			}
			return true
		}, func() string { return why })
		took := time.Since(start)
		r := do(t, e.s(low), 5*time.Second, claim("k", leases.Holder{Node: low}, time.Second))
		if r.OK {
			t.Errorf("claim of k through %s after the heal granted %+v; n1 holds it (token %d)", low, r, held.Token)
		}
		t.Logf("healed: one group %x, whole again in %v; k refused to %s, held under token %d", group, took, low, r.Token)
	})
}

// A node whose Join did not succeed does not know the cluster's members
// (its quorum basis is what little it saw) and must not found a group,
// though it sees itself as a majority of all it knows; once it joins,
// it is a client of the group there.
func TestNoFoundingBeforeJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := startNodes(t, 4, 22, func(*cluster.Config) {})
		join(t, nodes[:3]...)
		ss := map[string]*voters.Service{}
		for _, n := range nodes[:3] {
			s, release := voters.Acquire(n)
			t.Cleanup(release)
			ss[n.Name()] = s
		}
		waitFor(t, 20*time.Second, "a group of 3", func() bool { ok, _ := whole(ss, 3); return ok })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := nodes[3].Join(ctx, "127.0.20.99:7946") // nobody there
		cancel()
		if err == nil || !nodes[3].JoinPending() {
			t.Fatalf("join through nobody: %v, pending %v; want an error, pending", err, nodes[3].JoinPending())
		}
		lone, release := voters.Acquire(nodes[3])
		t.Cleanup(release)
		holds(t, 5*time.Second, "no group on the node whose join failed", func() bool { return lone.State().ID == 0 })
		join(t, nodes...)
		if nodes[3].JoinPending() {
			t.Fatal("still pending after a join that succeeded")
		}
		ss["n4"] = lone
		waitFor(t, 20*time.Second, "n4 to see the group", func() bool { return lone.Info().Group == ss["n1"].Info().Group })
	})
}
