package election

import (
	"context"
	"fmt"
	"github.com/gossipsync/gossipsync/cluster"
	"time"
)

// campaign runs one candidate's election loop until it wins a term (then
// it returns the term and when its lease started), ctx is done, or the
// Elector closes.
//
// Each round: wait while this node's voter holds someone else's grant, or
// a confirmed grant of this candidate's earlier lease; survey every
// member; with answers from a majority and no live lease anywhere, defer
// to a higher-ranked live candidate for a while, else claim the next
// term. A claim granted by a majority wins; a lost claim frees the grants
// it got and retries after a random pause.
func (e *Elector) campaign(ctx context.Context, c candidate) (uint64, time.Time, error) {
	var deferTo candidate
	var deferSince, lastPreempt time.Time
	noQuorum := false
	fail := func(err error) (uint64, time.Time, error) {
		if noQuorum && err != ErrClosed {
			err = fmt.Errorf("%w (%w)", ErrNoQuorum, err)
		}
		return 0, time.Time{}, err
	}
	for {
		if err := e.check(ctx); err != nil {
			return fail(err)
		}
		held, promised, changed := e.v.localState(e.group)
		if held != nil && held.Cand == c && held.Confirmed {
			// An earlier lease of this candidate: it still leads
			// through another Elected, or it lost the lease and
			// frees the grants a quarter TTL after Revoked closed.
			// The voters would grant this candidate again at once,
			// and a leader that just lost would lose again at its
			// first heartbeat, term after term without a pause.
			if err := e.wait(ctx, changed, held.Remaining); err != nil {
				return fail(err)
			}
			continue
		}
		if held != nil && held.Cand != c {
			if !e.noPreempt && compareRank(c, held.Cand) > 0 && time.Since(lastPreempt) >= e.ttl/4 {
				// Bully order: a claim the voters refuse still
				// tells them a higher candidate is waiting, and
				// the leader steps down at its next heartbeat.
				// One such claim per heartbeat period is enough;
				// more would only churn terms.
				lastPreempt = time.Now()
				e.claim(ctx, c, max(promised, held.Term)+1)
			}
			if err := e.wait(ctx, changed, min(held.Remaining, e.ttl/2)); err != nil {
				return fail(err)
			}
			continue
		}
		s := e.survey(ctx, c)
		noQuorum = s.answers < e.node.QuorumSize()
		switch {
		case noQuorum || s.blocked > 0:
			// No majority in reach, or a lease is live somewhere.
			wait := e.ttl / 4
			if s.blocked > 0 {
				wait = min(wait, s.blocked)
			}
			if err := e.wait(ctx, changed, jitter(wait)); err != nil {
				return fail(err)
			}
			continue
		case s.higher != nil:
			if *s.higher != deferTo {
				deferTo, deferSince = *s.higher, time.Now()
			}
			// Bully order: let the higher candidate win, unless it
			// has not managed to for a while (it may not reach a
			// majority that this node reaches).
			if time.Since(deferSince) < 3*e.ttl {
				if err := e.wait(ctx, changed, jitter(e.ttl/2)); err != nil {
					return fail(err)
				}
				continue
			}
		}
		term := s.maxTerm + 1
		start := time.Now()
		if e.claim(ctx, c, term) {
			return term, start, nil
		}
		if err := e.wait(ctx, nil, jitter(e.ttl/2)); err != nil {
			return fail(err)
		}
	}
}

// surveyResult sums up one survey.
type surveyResult struct {
	answers int           // voters that answered
	maxTerm uint64        // highest term promised among them
	blocked time.Duration // > 0: some voter holds a live grant for another candidate (or a confirmed one for c) this long
	higher  *candidate    // the highest-ranked campaigning candidate above c, if any
}

func (e *Elector) survey(ctx context.Context, c candidate) surveyResult {
	var s surveyResult
	for _, r := range cluster.CallAll[surveyResp](ctx, e.node, nil, methodSurvey, surveyReq{Group: e.group}, e.ttl/4) {
		if r.Err != nil {
			continue
		}
		s.answers++
		s.maxTerm = max(s.maxTerm, r.Resp.Promised)
		// A confirmed lease of c itself blocks too: it is an earlier
		// lease of this candidate that has not ended everywhere (see
		// campaign). An unconfirmed one is left over from a lost claim.
		if l := r.Resp.Lease; l != nil && (l.Cand != c || l.Confirmed) {
			s.blocked = max(s.blocked, l.Remaining)
		}
		for _, o := range r.Resp.Candidates {
			if compareRank(o, c) > 0 && (s.higher == nil || compareRank(o, *s.higher) > 0) {
				s.higher = &o
			}
		}
	}
	return s
}

// claim asks every member to grant term to c. It wins with a majority of
// the quorum basis; otherwise it frees the grants it got, in the
// background, so that it returns by ctx's deadline.
func (e *Elector) claim(ctx context.Context, c candidate, term uint64) bool {
	req := claimReq{Group: e.group, Term: term, Cand: c, TTL: e.ttl, NoPreempt: e.noPreempt}
	granted := 0
	for _, r := range cluster.CallAll[claimResp](ctx, e.node, nil, methodClaim, req, e.ttl/4) {
		if r.Err == nil && r.Resp.Granted {
			granted++
		}
	}
	if granted >= e.node.QuorumSize() {
		return true
	}
	// Free the grants, including any whose replies were late or lost.
	e.goCleanup(func() { e.release(c, term, e.ttl/4) })
	return false
}
