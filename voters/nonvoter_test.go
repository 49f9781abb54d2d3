package voters_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/voters"
)

// A NonVoter is never added to the configuration, even where the voter
// set has room for it, nor founds the group (n1 has the lowest name),
// and its commands are served by the voters.
func TestNonVoterStaysOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := nodeCluster(t, 4, 1, func(c *cluster.Config) {
			c.Voters = 5
			c.NonVoter = c.Name == "n1"
		})
		var ss []*voters.Service
		for _, n := range nodes {
			s, release := voters.Acquire(n)
			defer release()
			ss = append(ss, s)
		}
		// n1 has the lowest name: were it counted, it would found.
		r := do(t, ss[0], 20*time.Second, claim("k", leases.Holder{Node: "n1"}, time.Second))
		if !r.OK || r.Token == 0 {
			t.Fatalf("claim through the non-voter n1: %+v", r)
		}
		var in voters.Info
		waitFor(t, 20*time.Second, "three voters", func() bool {
			in = ss[1].Info()
			return len(in.Voters) == 3
		})
		holds(t, 5*time.Second, "n1 out of the configuration", func() bool {
			in = ss[1].Info()
			return len(in.Voters) == 3 && !slices.Contains(in.Voters, "n1") && !slices.Contains(in.Learners, "n1")
		})
		if r := ss[0].Info().Role; r != "" && r != "client" {
			t.Errorf("n1's role = %q; want none", r)
		}
	})
}
