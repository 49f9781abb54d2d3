package voters_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// serviceGoroutines returns the stacks of the goroutines that the voter
// service or its Raft members started (created), and of those that run
// their code (a handler the node runs for them, say).
func serviceGoroutines() (created, running []string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ours := func(s string) bool {
		return strings.Contains(s, "/internal/voters.") || strings.Contains(s, "/internal/raftgroup.")
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		_, creator, _ := strings.Cut(g, "\ncreated by ")
		switch {
		case ours(creator):
			created = append(created, g)
		case ours(g):
			running = append(running, g)
		}
	}
	return created, running
}

// The node's references share one service, which runs until the last
// release; release returns once every goroutine the service started has
// ended, and a crash of the node stops the service by itself.
func TestReleaseWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 11)
		ss := map[string]*voters.Service{}
		var releases []func()
		for _, n := range c.Nodes() {
			s, release := voters.Acquire(n)
			ss[n.Name()] = s
			releases = append(releases, release)
		}
		s2, release2 := voters.Acquire(c.Node("n1"))
		if s2 != ss["n1"] {
			t.Fatal("a second Acquire on a node made a second service")
		}
		waitFor(t, 10*time.Second, "3 voters", func() bool { ok, _ := whole(ss, 3); return ok })
		h := leases.Holder{Node: "x"}
		if r := do(t, ss["n3"], 5*time.Second, claim("k", h, time.Minute)); !r.OK {
			t.Fatalf("claim: %+v", r)
		}
		release2()
		release2() // a second call does nothing
		if r := do(t, ss["n1"], 5*time.Second, claim("k", h, time.Minute)); !r.OK {
			t.Fatalf("claim after one of two releases: %+v", r)
		}
		if created, _ := serviceGoroutines(); len(created) == 0 {
			t.Fatal("no goroutine of the service found: the check sees nothing")
		}

		// A crash closes the node under its service: the service stops
		// with it, and its release finds nothing left to wait for.
		c.Crash("n3")
		waitFor(t, 5*time.Second, "n3's service to stop", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := ss["n3"].Do(ctx, []leases.Cmd{claim("k", h, time.Minute)})
			return errors.Is(err, voters.ErrClosed)
		})

		for _, release := range releases {
			release()
		}
		created, _ := serviceGoroutines()
		if len(created) > 0 {
			t.Errorf("%d goroutines of the services outlive their release:\n%s", len(created), strings.Join(created, "\n\n"))
		}
		for name, s := range ss {
			if _, err := s.Do(context.Background(), []leases.Cmd{claim("k", h, time.Minute)}); !errors.Is(err, voters.ErrClosed) {
				t.Errorf("Do on %s after its release: %v; want ErrClosed", name, err)
			}
		}
		// Handlers that were running the services' code when they
		// closed end soon after.
		var running []string
		waitFor(t, time.Second, "the services' handlers to end", func() bool {
			_, running = serviceGoroutines()
			return len(running) == 0
		}, func() string { return strings.Join(running, "\n\n") })
	})
}

// TestCloseYieldsLeadership: when the last user of the leader's service
// lets it go while the node stays up, the leader hands over first, so
// another voter leads sooner than it would notice a quiet leader (an
// election timeout: 100-190 ms); and the group serves commands after it
// even when the leader went before the founding entry committed (the
// new leader proposes it).
func TestCloseYieldsLeadership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 3, 11)
		svcs, releases := acquireAll(t, c)
		var lead string
		waitFor(t, 20*time.Second, "a leader of three voters", func() bool {
			ok, _ := whole(svcs, 3)
			lead = ""
			for name, s := range svcs {
				if s.State().Leader {
					lead = name
				}
			}
			return ok && lead != ""
		})
		release := releases[lead]
		delete(releases, lead)
		delete(svcs, lead)
		start := time.Now()
		// Close waits a gossip round for its tags to go out: the gap
		// is measured while it runs.
		released := make(chan struct{})
		go func() {
			defer close(released)
			release()
		}()
		defer func() { <-released }()
		waitFor(t, 5*time.Second, "another leader", func() bool {
			for _, s := range svcs {
				if s.State().Leader {
					return true
				}
			}
			return false
		})
		if took := time.Since(start); took >= 100*time.Millisecond {
			t.Fatalf("another voter led %v after the leader's service closed; want less than an election timeout", took)
		}
		for _, s := range svcs {
			if r := do(t, s, 5*time.Second, claim("after", leases.Holder{Node: "x"}, time.Second)); !r.OK {
				t.Fatalf("claim after the leader's service closed: %+v", r)
			}
			break
		}
	})
}

// TestClosedServiceReplaced: a voter whose service closes while its node
// stays up asks to be removed, so the group replaces it with another
// node at once, and its node's stale tags do not bring its ID back;
// without that it stayed a voter for good (its node is alive, so the
// autopilot never found it missing).
func TestClosedServiceReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 4, 5)
		svcs, releases := acquireAll(t, c)
		waitFor(t, 20*time.Second, "three voters", func() bool {
			ok, _ := whole(svcs, 3)
			return ok
		})
		var gone string
		for name, s := range svcs {
			if st := s.State(); st.ID != 0 && !st.Leader && slices.Contains(leaderState(svcs).Voters, st.ID) {
				gone = name
				break
			}
		}
		goneState := svcs[gone].State()
		t.Logf("releasing %s: member %x, applied %d, voters %x", gone, goneState.ID, goneState.Applied, goneState.Voters)
		releases[gone]()
		delete(releases, gone)
		delete(svcs, gone)
		start := time.Now()
		var why string
		// The failure threshold on this profile is 2 s: a removal that
		// waited for it would take longer.
		waitFor(t, 1500*time.Millisecond, "three voters without "+gone, func() bool {
			var ok bool
			ok, why = whole(svcs, 3)
			return ok
		}, func() string { return why })
		t.Logf("replaced after %v", time.Since(start))
		// Its node still gossips its old ID and role: the group does not
		// take it back (virtual time: two failure thresholds).
		time.Sleep(4 * time.Second)
		if ok, why := whole(svcs, 3); !ok {
			t.Fatalf("the group lost its shape after %s left: %s", gone, why)
		}
	})
}

func leaderState(svcs map[string]*voters.Service) voters.State {
	for _, s := range svcs {
		if st := s.State(); st.Leader {
			return st
		}
	}
	return voters.State{}
}

// acquireAll starts the service on every node of c; what a test has not
// released itself is released at cleanup.
func acquireAll(t *testing.T, c *sim.Cluster) (map[string]*voters.Service, map[string]func()) {
	svcs := map[string]*voters.Service{}
	releases := map[string]func(){}
	for _, n := range c.Nodes() {
		svcs[n.Name()], releases[n.Name()] = voters.Acquire(n)
	}
	t.Cleanup(func() {
		for _, r := range releases {
			r()
		}
	})
	return svcs, releases
}
