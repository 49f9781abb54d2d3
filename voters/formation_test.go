package voters_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// holds polls f every 10 ms for d of virtual time and fails the test
// the first time it does not hold.
func holds(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !f() {
			t.Fatalf("%s stopped holding", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// firstClaim issues a claim through s at once and returns how long it
// took to be granted.
func firstClaim(t *testing.T, s *voters.Service, start time.Time) time.Duration {
	t.Helper()
	r := do(t, s, 10*time.Second, claim("first", leases.Holder{Node: "x"}, time.Second))
	if !r.OK || r.Token == 0 {
		t.Fatalf("first claim: %+v", r)
	}
	return time.Since(start)
}

// A cluster of one node with ExpectedSize unset founds its group at
// once.
func TestFoundsAloneAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 1, 1)
		start := time.Now()
		s, release := voters.Acquire(c.Node("n1"))
		defer release()
		took := firstClaim(t, s, start)
		t.Logf("one node: first claim granted %v after the service started", took)
		if took > time.Second {
			t.Errorf("first claim took %v; want at most 1s", took)
		}
		if in := s.Info(); in.Role != "leader" || len(in.Voters) != 1 {
			t.Errorf("Info = %+v; want the only voter, leading", in)
		}
	})
}

// With ExpectedSize 3, nothing is founded while only two nodes run the
// service, though three are in the cluster; the third one's start lets
// the lowest-named node found the group.
func TestExpectedSizeWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := nodeCluster(t, 3, 2, func(c *cluster.Config) { c.ExpectedSize = 3 })
		var ss []*voters.Service
		for _, n := range nodes[:2] {
			s, release := voters.Acquire(n)
			t.Cleanup(release)
			ss = append(ss, s)
		}
		holds(t, 5*time.Second, "no group with 2 of 3 nodes running the service", func() bool {
			for _, s := range ss {
				if in := s.Info(); in.Group != 0 || in.Role != "" {
					t.Logf("founded early: %+v", in)
					return false
				}
			}
			return true
		})
		// A claim meanwhile waits for a group and ends with ctx.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := ss[1].Do(ctx, []leases.Cmd{claim("k", leases.Holder{Node: "n2"}, time.Second)}); err == nil {
			t.Fatal("Do succeeded with no group")
		}
		start := time.Now()
		s, release := voters.Acquire(nodes[2])
		t.Cleanup(release)
		took := firstClaim(t, s, start)
		t.Logf("third service started: first claim granted after %v (%s)", took, names(s))
		waitFor(t, 10*time.Second, "n1 leading 3 voters", func() bool {
			in := ss[0].Info()
			return in.Role == "leader" && len(in.Voters) == 3
		})
	})
}

// A fresh three-node cluster answers its first claim within a second of
// virtual time after the services start, with ExpectedSize 3 or unset;
// and no claim is refused as quiet (the group not founded yet) meanwhile:
// clients on every node claim every millisecond from the start.
func TestFirstClaimLatency(t *testing.T) {
	for _, expected := range []int{0, 3} {
		t.Run(map[int]string{0: "unset", 3: "ExpectedSize=3"}[expected], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nodes := nodeCluster(t, 3, 3, func(c *cluster.Config) { c.ExpectedSize = expected })
				start := time.Now()
				var ss []*voters.Service
				for _, n := range nodes {
					s, release := voters.Acquire(n)
					t.Cleanup(release)
					ss = append(ss, s)
				}
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for i, s := range ss {
					wg.Go(func() {
						h := leases.Holder{Node: fmt.Sprint("eager", i)}
						for {
							select {
							case <-stop:
								return
							default:
							}
							ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
							res, err := s.Do(ctx, []leases.Cmd{claim(h.Node, h, time.Second)})
							cancel()
							if err == nil && !res[0].OK {
								t.Errorf("claim through n%d refused: %+v", i+1, res[0])
							}
							time.Sleep(time.Millisecond)
						}
					})
				}
				stopAll := sync.OnceFunc(func() {
					close(stop)
					wg.Wait()
				})
				defer stopAll()
				took := firstClaim(t, ss[2], start) // from a node that does not found
				stopAll()
				t.Logf("first claim through n3 granted %v after the services started", took)
				if took > time.Second {
					t.Errorf("first claim took %v; want at most 1s", took)
				}
			})
		})
	}
}

// A seven-node cluster ends with exactly five voters (the default) and
// no learners, and stays so.
func TestSevenNodesFiveVoters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 7, 4)
		took := e.waitWhole(20*time.Second, 5)
		waitFor(t, 20*time.Second, "no learners", func() bool {
			return len(e.leaderState().Learners) == 0
		})
		t.Logf("7 nodes: 5 voters after %v: %s", took, names(e.s(e.leader())))
		holds(t, 5*time.Second, "5 voters, no learner", func() bool {
			st := e.leaderState()
			return len(st.Voters) == 5 && len(st.Learners) == 0
		})
		// Every node learns of the group by gossip, the two outside it
		// as clients (gossip may take a push-pull round, 5 s, to mend
		// a lost update).
		var why string
		waitFor(t, 30*time.Second, "every node to see the group", func() bool {
			clients := 0
			for name, s := range e.live() {
				in := s.Info()
				if in.Group == 0 || in.Leader == "" || len(in.Voters) != 5 {
					why = fmt.Sprintf("%s sees %+v", name, in)
					return false
				}
				if in.Role == "" {
					clients++
				}
			}
			why = fmt.Sprintf("%d clients", clients)
			return clients == 2
		}, func() string { return why })
	})
}

// cluster.Config.Voters = 3 keeps three voters in a five-node cluster.
func TestConfiguredVoters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := nodeCluster(t, 5, 5, func(c *cluster.Config) { c.Voters = 3 })
		ss := map[string]*voters.Service{}
		for _, n := range nodes {
			s, release := voters.Acquire(n)
			t.Cleanup(release)
			ss[n.Name()] = s
		}
		waitFor(t, 20*time.Second, "3 voters, no learner", func() bool {
			ok, _ := whole(ss, 3)
			return ok && len(ss["n1"].Info().Learners) == 0
		})
		holds(t, 5*time.Second, "3 voters", func() bool {
			ok, _ := whole(ss, 3)
			return ok
		})
		t.Logf("Voters=3: %s", names(ss["n1"]))
	})
}

// The first configuration holds up to Voters members at once. If the
// others of it are gone before the group elected its first leader (here
// they crash and come back as new incarnations; in the wild they may
// have joined another group formed at the same time), the group can
// never apply its founding entry: it must give up, and a group be
// founded again, rather than keep the cluster waiting on it forever.
func TestFoundingVotersGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3, 13)
		deadline := time.Now().Add(10 * time.Second)
		for e.s("n1").State().ID == 0 {
			if time.Now().After(deadline) {
				t.Fatal("n1 founded nothing")
			}
			time.Sleep(time.Millisecond)
		}
		first := e.s("n1").State()
		e.crash("n2")
		e.crash("n3")
		e.restart("n2")
		e.restart("n3")
		t.Logf("n1 founded group %x with %d voters; n2 and n3 restarted", first.Group, len(first.Voters))
		start := time.Now()
		e.waitWhole(30*time.Second, 3)
		r := do(t, e.s("n3"), 10*time.Second, claim("k", leases.Holder{Node: "n3"}, time.Second))
		if !r.OK {
			t.Fatalf("claim: %+v", r)
		}
		t.Logf("3 voters of live incarnations %v later, in group %x", time.Since(start), e.leaderState().Group)
	})
}
