package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

// V2: lock ids and an election group that nothing touches during the run
// are used once at its start and once after the final heal; the final
// tokens and term must exceed every token and term seen before them, as
// the voters' counters survive restarts of every node and grow for every
// id and group, idle or not.
const (
	idleGroup    = "idle"
	idleRetry    = 100 * time.Millisecond // between attempts of an idle acquisition or election
	idleMaxTries = 20                     // attempts, each bounded by the lock workload's Wait
)

// idleLockIDs are the lock ids that only V2 acquires.
func idleLockIDs() []string { return []string{"idle-0", "idle-1"} }

// idleToken is one acquisition of an idle id.
type idleToken struct {
	ID     string
	Token  uint64
	Called time.Time // when Acquire was called
}

// idleRound is one pass over the idle ids and the idle group.
type idleRound struct {
	Tokens []idleToken
	Term   uint64
	Err    string // the first failure; the round stopped there
}

// v2Record is what V2 judges.
type v2Record struct {
	Start, Final idleRound
	// MaxToken is the largest token granted before the first final
	// acquisition, of any id (the idle ids' at the start included), and
	// MaxTokenID its id. MaxTerm is the largest term of the main
	// election group and of the idle group before the final election.
	MaxToken   uint64
	MaxTokenID string
	MaxTerm    uint64
}

// idleStart makes V2's first round, before the schedule starts.
func (r *runner) idleStart(ctx context.Context) v2Record {
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	return v2Record{Start: r.idleRound(ctx)}
}

// finish waits, up to finalLockWait, for a lock grant after the final
// heal (L4 covers that heal too), and then makes V2's final round into v.
// The election workload has stopped by then.
func (r *runner) finish(ctx context.Context, v *v2Record) {
	r.waitGrantAfter(ctx, r.healed, finalLockWait)
	ctx, cancel := context.WithTimeout(ctx, finalWait)
	defer cancel()
	begun := time.Now()
	for _, t := range v.Start.Tokens {
		if t.Token > v.MaxToken {
			v.MaxToken, v.MaxTokenID = t.Token, t.ID
		}
	}
	v.MaxTerm = v.Start.Term
	for _, l := range r.elect.Leases() {
		v.MaxTerm = max(v.MaxTerm, l.Term)
	}
	v.Final = r.idleRound(ctx)
	if len(v.Final.Tokens) > 0 {
		begun = v.Final.Tokens[0].Called
	}
	for _, g := range r.locks.History().Grants {
		if g.Start.Before(begun) && g.Token > v.MaxToken {
			v.MaxToken, v.MaxTokenID = g.Token, g.ID
		}
	}
	r.out.printf("[%6.1fs]   V2: %s\n", time.Since(r.start).Seconds(), v.summary())
}

// idleRound acquires and releases each idle id once and wins and resigns
// an election in the idle group once, retrying each up to idleMaxTries
// times while ctx allows.
func (r *runner) idleRound(ctx context.Context) idleRound {
	var out idleRound
	for _, id := range idleLockIDs() {
		var t idleToken
		err := retry(ctx, func() (err error) {
			t.Token, t.Called, err = r.locks.AcquireOnce(ctx, id)
			return err
		})
		if err != nil {
			out.Err = err.Error()
			return out
		}
		t.ID = id
		out.Tokens = append(out.Tokens, t)
	}
	err := retry(ctx, func() (err error) {
		out.Term, err = sim.ElectOnce(ctx, r.c, idleGroup)
		return err
	})
	if err != nil {
		out.Err = err.Error()
	}
	return out
}

// retry calls f until it succeeds, up to idleMaxTries times while ctx
// allows, and returns its last error.
func retry(ctx context.Context, f func() error) error {
	var err error
	for range idleMaxTries {
		if err = f(); err == nil || !sleepUntil(ctx, time.Now().Add(idleRetry)) {
			return err
		}
	}
	return err
}

// summary is V2's figures: "idle-0 token 41 > max 40; ...".
func (v *v2Record) summary() string {
	switch {
	case !v.ran():
		return "not run"
	case v.Start.Err != "":
		return "first round failed: " + v.Start.Err
	case v.Final.Err != "":
		return "final round failed: " + v.Final.Err
	}
	var parts []string
	for _, t := range v.Final.Tokens {
		parts = append(parts, fmt.Sprintf("%s token %d %s max %d", t.ID, t.Token, above(t.Token, v.MaxToken), v.MaxToken))
	}
	parts = append(parts, fmt.Sprintf("%q term %d %s max %d", idleGroup, v.Final.Term, above(v.Final.Term, v.MaxTerm), v.MaxTerm))
	return strings.Join(parts, "; ")
}

// ran reports whether the rounds were made or failed (not so in a run
// that never started its schedule).
func (v *v2Record) ran() bool {
	return v.Start.Err != "" || v.Final.Err != "" || len(v.Final.Tokens) > 0
}

func above(a, b uint64) string {
	if a > b {
		return ">"
	}
	return "<="
}

// v2Property judges V2: not exercised when a round failed (no quorum at
// the start or the end), broken when a final token or term does not
// exceed all those before it.
func (r *record) v2Property() Property {
	v := &r.V2
	const name = "tokens and terms keep increasing across restarts, idle ids and groups included"
	exercised := v.ran() && v.Start.Err == "" && v.Final.Err == ""
	var bad []string
	if exercised {
		for _, t := range v.Final.Tokens {
			if t.Token <= v.MaxToken {
				bad = append(bad, fmt.Sprintf("final token of %s is %d, not above %d (of %s)", t.ID, t.Token, v.MaxToken, v.MaxTokenID))
			}
		}
		if v.Final.Term <= v.MaxTerm {
			bad = append(bad, fmt.Sprintf("final term of group %q is %d, not above %d", idleGroup, v.Final.Term, v.MaxTerm))
		}
	}
	return judge("V2", name, exercised, violations(bad), v.summary())
}
