package voters_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/voters"
)

// Two sets of three nodes that do not know of each other each found a
// group; once they meet (one joins the other), exactly one group
// remains, the older one (the lower group ID), and every node is in it
// or a client of it. apart is how long after the first set the second
// one starts its services; at 0 both found in the same microsecond of
// virtual time.
func TestTwoGroupsMerge(t *testing.T) {
	for _, apart := range []time.Duration{time.Second, 10 * time.Millisecond, 0} {
		t.Run(fmt.Sprintf("apart=%v", apart), func(t *testing.T) {
			testTwoGroupsMerge(t, apart)
		})
	}
}

func testTwoGroupsMerge(t *testing.T, apart time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		nodes := startNodes(t, 6, 10, func(*cluster.Config) {})
		sets := [][]*cluster.Node{nodes[:3], nodes[3:]}
		ss := map[string]*voters.Service{}
		join(t, sets[0]...)
		join(t, sets[1]...)
		for i, set := range sets {
			if i == 1 {
				time.Sleep(apart)
			}
			for _, n := range set {
				s, release := voters.Acquire(n)
				t.Cleanup(release)
				ss[n.Name()] = s
			}
		}
		var groups, tokens [2]uint64
		for i, set := range sets {
			sub := map[string]*voters.Service{}
			for _, n := range set {
				sub[n.Name()] = ss[n.Name()]
			}
			var why string
			waitFor(t, 20*time.Second, fmt.Sprintf("set %d to found a group", i), func() bool {
				var ok bool
				ok, why = whole(sub, 3)
				return ok
			}, func() string { return why })
			last := ss[set[2].Name()]
			groups[i] = last.State().Group
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := last.Do(ctx, []leases.Cmd{claim("k", leases.Holder{Node: set[2].Name()}, time.Minute)})
			cancel()
			if err != nil || !res[0].OK {
				t.Fatalf("claim in set %d: %+v %v", i, res, err)
			}
			tokens[i] = res[0].Token
		}
		t.Logf("groups %x and %x; tokens %d and %d", groups[0], groups[1], tokens[0], tokens[1])
		if groups[0] == groups[1] {
			t.Fatalf("both sets founded group %x", groups[0])
		}
		older, younger := min(groups[0], groups[1]), tokens[1]
		if groups[1] < groups[0] {
			younger = tokens[0]
		}
		start := time.Now()
		join(t, nodes...)
		var why string
		waitFor(t, 30*time.Second, "one group of 5 voters", func() bool {
			var ok bool
			if ok, why = whole(ss, 5); !ok {
				return false
			}
			for name, s := range ss {
				if in := s.Info(); in.Group != older {
					why = fmt.Sprintf("%s sees group %x", name, in.Group)
					return false
				}
				if st := s.State(); st.ID != 0 && st.Group != older {
					why = fmt.Sprintf("%s is a member of group %x", name, st.Group)
					return false
				}
			}
			return true
		}, func() string { return why })
		var lead *voters.Service
		for _, s := range ss {
			if s.State().Leader {
				lead = s
			}
		}
		t.Logf("one group %x, 5 voters, %v after the sets met: %s", older, time.Since(start), names(lead))
		// Every node, of either set, is served by the remaining group.
		for _, name := range sortedKeys(ss) {
			r := do(t, ss[name], 5*time.Second, claim("after/"+name, leases.Holder{Node: name}, time.Minute))
			if !r.OK {
				t.Errorf("claim through %s after the merge: %+v", name, r)
			}
		}
		// The younger group's grants are gone with it, and the older
		// group's tokens may be lower than those it issued: the hazard
		// of groups formed apart.
		r := do(t, ss["n1"], 5*time.Second, claim("k", leases.Holder{Node: "other"}, time.Minute))
		t.Logf("claim of k, held in both groups before: %+v; the dissolved group's token was %d", r, younger)
	})
}
