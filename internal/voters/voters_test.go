package voters_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/voters"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

func services(t *testing.T, c *sim.Cluster) map[string]*voters.Service {
	out := map[string]*voters.Service{}
	for _, n := range c.Nodes() {
		s, release := voters.Acquire(n)
		t.Cleanup(release)
		out[n.Name()] = s
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFormsAndGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.StartOptions(t, sim.Options{Nodes: 5, Seed: 1, Profile: cluster.Local})
		ss := services(t, c)
		start := time.Now()
		waitFor(t, 10*time.Second, "5 voters", func() bool {
			in := ss["n3"].Info()
			return len(in.Voters) == 5 && in.Leader != ""
		})
		t.Logf("5 voters after %v: %+v", time.Since(start), ss["n1"].Info())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := leases.Holder{Node: "n4", Owner: "m"}
		res, err := ss["n4"].Do(ctx, []leases.Cmd{{Op: leases.OpClaim, Key: "k", Holder: h, TTL: time.Second}})
		if err != nil || !res[0].OK {
			t.Fatalf("claim: %+v %v", res, err)
		}
		tok := res[0].Token
		res, err = ss["n2"].Do(ctx, []leases.Cmd{{Op: leases.OpClaim, Key: "k", Holder: leases.Holder{Node: "n2"}, TTL: time.Second}})
		if err != nil || res[0].OK || res[0].Token != tok {
			t.Fatalf("second claim: %+v %v", res, err)
		}
		lead := ss["n1"].Info().Leader
		c.Crash(lead)
		// Four nodes are left: the dead voter is removed, and one more
		// to keep the number of voters odd.
		waitFor(t, 20*time.Second, "3 voters without "+lead, func() bool {
			for name, s := range ss {
				if in := s.Info(); name != lead && in.Role == "leader" {
					return len(in.Voters) == 3 && !slices.Contains(in.Voters, lead)
				}
			}
			return false
		})
		// The grant expired meanwhile (no renewals): a new claim gets a
		// larger token.
		waitFor(t, 10*time.Second, "a new grant", func() bool {
			res, err := ss["n2"].Do(ctx, []leases.Cmd{{Op: leases.OpClaim, Key: "k", Holder: leases.Holder{Node: "n2"}, TTL: time.Second}})
			if err == nil && res[0].OK {
				if res[0].Token <= tok {
					t.Fatalf("token %d after %d", res[0].Token, tok)
				}
				return true
			}
			return false
		})
	})
}
