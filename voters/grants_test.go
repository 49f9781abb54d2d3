package voters_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// Grants lists the live grants in key order with their holders and
// tokens: on a voter from its own table, on a non-voter from a voter's;
// bounded, with a count of the rest; released grants are gone.
func TestGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := nodeCluster(t, 4, 1, func(c *cluster.Config) {
			c.Voters = 3
			c.NonVoter = c.Name == "n4"
		})
		var ss []*voters.Service
		for _, n := range nodes {
			s, release := voters.Acquire(n)
			defer release()
			ss = append(ss, s)
		}
		h := leases.Holder{Node: "n4", Owner: "m", Handle: 7}
		tokens := map[string]uint64{}
		for _, k := range []string{"l/b", "e/g", "l/a"} {
			r := do(t, ss[3], 20*time.Second, claim(k, h, time.Minute))
			if !r.OK {
				t.Fatalf("claim %s: %+v", k, r)
			}
			tokens[k] = r.Token
		}
		do(t, ss[3], 20*time.Second, claim("l/c", h, time.Minute))
		do(t, ss[3], 20*time.Second, leases.Cmd{Op: leases.OpRelease, Key: "l/c", Holder: h})

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, s := range ss {
			var g voters.Grants
			waitFor(t, 20*time.Second, s.String()+" to list 3 grants", func() bool {
				var err error
				g, err = s.Grants(ctx, 10)
				return err == nil && len(g.Grants) == 3
			})
			if g.More != 0 || g.From == "" || g.From == "n4" {
				t.Errorf("%s: %d more, read from %q; want 0 more, from a voter", s, g.More, g.From)
			}
			for i, want := range []string{"e/g", "l/a", "l/b"} {
				got := g.Grants[i]
				if got.Key != want || got.Node != h.Node || got.Owner != h.Owner || got.Handle != h.Handle ||
					got.Token != tokens[want] || got.Remaining <= 0 || got.Remaining > time.Minute*5/4 {
					t.Errorf("%s: grant %d = %+v; want %s of %+v, token %d, remaining in (0, 75s]", s, i, got, want, h, tokens[want])
				}
			}
			g, err := s.Grants(ctx, 1)
			if err != nil || len(g.Grants) != 1 || g.Grants[0].Key != "e/g" || g.More != 2 {
				t.Errorf("%s: Grants(1) = %+v, %v; want e/g and 2 more", s, g, err)
			}
		}
	})
}

// A non-voter's Grants ends with ctx when no group exists, and names why.
func TestGrantsNoGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := nodeCluster(t, 2, 1, func(c *cluster.Config) { c.NonVoter = true })
		s, release := voters.Acquire(nodes[0])
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if g, err := s.Grants(ctx, 10); err == nil {
			t.Fatalf("Grants = %+v; want an error without a group", g)
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Grants: %v; want %v", err, context.DeadlineExceeded)
		}
	})
}

// A listing stays within maxGrantsBytes however long the candidates'
// ids are, counting what it leaves out in More.
func TestGrantsBoundedBySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 1, 1)
		s, release := voters.Acquire(c.Node("n1"))
		defer release()
		long := strings.Repeat("x", 64<<10)
		for i := range 10 {
			r := do(t, s, 10*time.Second, claim(fmt.Sprintf("e/g%d", i), leases.Holder{Node: "n1", Owner: long}, time.Hour))
			if !r.OK {
				t.Fatalf("claim %d: %+v", i, r)
			}
		}
		g, err := s.Grants(context.Background(), voters.MaxGrants)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Grants) == 0 || len(g.Grants) >= 10 || len(g.Grants)+g.More != 10 {
			t.Errorf("listed %d grants, %d more; want some of the 10 and the rest in More", len(g.Grants), g.More)
		}
	})
}
