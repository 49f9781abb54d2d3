package lockmgr_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// TestSimRolloutKeepsTokensAndTermsIncreasing restarts every node one at
// a time, as a rolling redeploy does (crash, restart, wait until the
// restarted node votes again), while two lock ids and one election group
// stay idle throughout. After the rollout the next grant of each idle id,
// and the next term of the idle group, are above every token and term
// granted before it: the voters' counter lives in their log, which every
// new voter receives before it votes, not in any one process.
func TestSimRolloutKeepsTokensAndTermsIncreasing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		ctx := context.Background()
		idle := []string{"idle-a", "idle-b"}
		var before uint64 // the highest token or term granted before the rollout
		for _, id := range idle {
			l, h := e.acquire(t, "n3", id)
			before = max(before, l.Token())
			e.rec.release(t, h, l)
		}
		before = max(before, electOnce(t, e, "n2"))

		for _, name := range e.c.Names() {
			began := time.Now()
			e.c.Crash(name)
			e.m[name].Close()
			time.Sleep(500 * time.Millisecond)
			n, err := e.c.Restart(ctx, name)
			if err != nil {
				t.Fatalf("restart %s: %v", name, err)
			}
			m, err := lockmgr.New(n, lockmgr.LockDelay(testDelay))
			if err != nil {
				t.Fatal(err)
			}
			e.m[name] = m
			svc, release := voters.Acquire(n)
			deadline := time.Now().Add(30 * time.Second)
			for !votesAgain(svc) {
				if time.Now().After(deadline) {
					t.Fatalf("%s does not vote 30 s after its restart: %+v", name, svc.Info())
				}
				time.Sleep(10 * time.Millisecond)
			}
			release()
			t.Logf("%s restarted and voting again %v after its crash", name, time.Since(began).Round(time.Millisecond))
		}

		for _, id := range idle {
			l, h := e.acquire(t, "n4", id)
			if l.Token() <= before {
				t.Errorf("%s: token %d after the rollout, not above %d granted before", id, l.Token(), before)
			}
			e.rec.release(t, h, l)
		}
		if term := electOnce(t, e, "n5"); term <= before {
			t.Errorf("idle group: term %d after the rollout, not above %d granted before", term, before)
		}
	})
}

// votesAgain reports whether the node of svc is a voter of a whole
// configuration: five voters, no learner.
func votesAgain(svc *voters.Service) bool {
	in := svc.Info()
	return (in.Role == "voter" || in.Role == "leader") && len(in.Voters) == 5 && len(in.Learners) == 0
}

// electOnce wins the idle election group on node once, resigns, and
// returns the term.
func electOnce(t *testing.T, e *env, node string) uint64 {
	t.Helper()
	el, err := election.New(e.c.Node(node), election.Group("idle"))
	if err != nil {
		t.Fatal(err)
	}
	defer el.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	won, err := el.Elect(ctx, "c-"+node)
	if err != nil {
		t.Fatalf("%s Elect: %v", node, err)
	}
	term := won.Term()
	if err := won.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	return term
}
