package leases

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Table is the replicated lease table of a voter group: at most one
// grant per key, tokens from one counter. Apply is deterministic in its
// effect on the table; the times it is given only feed each member's own
// expiry decisions and the clock-read fields of results. Safe for
// concurrent use.
type Table struct {
	mu      sync.Mutex
	founded bool
	last    uint64 // the highest token issued
	quiet   bool
	recs    map[string]*rec
}

// rec is one live grant. The fields up to Preempt are replicated; the
// times are this member's.
type rec struct {
	holder    Holder
	token     uint64
	ttl       time.Duration
	seq       uint64  // renewals applied
	preempt   *Holder // a higher-ranked claimant asked it to step down
	at        time.Time
	preemptAt time.Time
}

// New returns an empty table. It refuses claims until an OpFound.
func New() *Table { return &Table{recs: map[string]*rec{}} }

// Apply applies a batch of commands in order, at this member's time now,
// and returns one result each.
func (t *Table) Apply(cmds []Cmd, now time.Time) []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Result, len(cmds))
	for i := range cmds {
		out[i] = t.applyLocked(&cmds[i], now)
		out[i].Last = t.last
	}
	return out
}

func (t *Table) applyLocked(c *Cmd, now time.Time) Result {
	switch c.Op {
	case OpClaim:
		if f := c.Free; f != nil && f.Op == OpRelease && f.Key == c.Key && f.Holder != c.Holder {
			t.releaseLocked(f)
		}
		return t.claimLocked(c, now)
	case OpRenew:
		r := t.recs[c.Key]
		if r == nil || r.holder != c.Holder || r.token != c.Token {
			return Result{}
		}
		r.seq++
		r.ttl, r.at = c.TTL, now
		return Result{OK: true, Token: r.token, Preempt: r.preempt != nil && now.Before(r.preemptAt.Add(Hold(r.ttl)))}
	case OpRelease:
		return Result{OK: t.releaseLocked(c)}
	case OpExpire:
		if r := t.recs[c.Key]; r != nil && r.token == c.Token && r.seq == c.Seq {
			delete(t.recs, c.Key)
			return Result{OK: true}
		}
	case OpEndQuiet:
		t.quiet = false
		return Result{OK: true}
	case OpFound:
		if t.founded {
			return Result{}
		}
		// Never lower the counter (a restored table may hold tokens).
		t.founded, t.last, t.quiet = true, max(t.last, c.Token), c.Quiet
		return Result{OK: true}
	}
	return Result{}
}

func (t *Table) claimLocked(c *Cmd, now time.Time) Result {
	if r := t.recs[c.Key]; r != nil {
		if r.holder == c.Holder {
			// A retry of the claim that won (its answer was lost): the
			// holder counts its lease from before it sent the retry,
			// so the retry renews the grant, and an expiry proposed
			// before it does nothing.
			r.seq++
			r.ttl, r.at = c.TTL, now
			return Result{OK: true, Token: r.token}
		}
		if c.Preempt && CompareRank(c.Holder, r.holder) > 0 {
			h := c.Holder
			r.preempt, r.preemptAt = &h, now
		}
		h := r.holder
		return Result{Token: r.token, Holder: &h, Remaining: r.remaining(now)}
	}
	if t.quiet || !t.founded {
		return Result{Quiet: true}
	}
	t.last++
	t.recs[c.Key] = &rec{holder: c.Holder, token: t.last, ttl: c.TTL, at: now}
	return Result{OK: true, Token: t.last}
}

func (t *Table) releaseLocked(c *Cmd) bool {
	r := t.recs[c.Key]
	if r == nil || r.holder != c.Holder || c.Token != 0 && r.token != c.Token {
		return false
	}
	delete(t.recs, c.Key)
	return true
}

// Expired returns an OpExpire for every grant this member applied no
// claim or renewal of for its hold, as of now. Any member may propose
// them: each names the renewals it saw, so one that a renewal overtook
// does nothing.
func (t *Table) Expired(now time.Time) []Cmd {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Cmd
	for k, r := range t.recs {
		if !now.Before(r.at.Add(Hold(r.ttl))) {
			out = append(out, Cmd{Op: OpExpire, Key: k, Token: r.token, Seq: r.seq})
		}
	}
	return out
}

// Grant is a live grant as one member knows it.
type Grant struct {
	Key       string // set by List
	Holder    Holder
	Token     uint64
	Remaining time.Duration // this member holds it this long at most
}

// Get returns the grant of key, if any, and the highest token issued.
func (t *Table) Get(key string, now time.Time) (g Grant, held bool, last uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.recs[key]
	if r == nil {
		return g, false, t.last
	}
	return Grant{Holder: r.holder, Token: r.token, Remaining: r.remaining(now)}, true, t.last
}

// List returns up to limit live grants (limit <= 0: none), in the order
// of their keys, as of now, and how many more there are. It is for
// reports: it sorts every key.
func (t *Table) List(now time.Time, limit int) (gs []Grant, more int) {
	// Copy under the lock, sort outside it: the apply path waits for
	// the lock, and a listing serves an operator's page.
	t.mu.Lock()
	all := make([]Grant, 0, len(t.recs))
	for k, r := range t.recs {
		all = append(all, Grant{Key: k, Holder: r.holder, Token: r.token, Remaining: r.remaining(now)})
	}
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b Grant) int { return strings.Compare(a.Key, b.Key) })
	gs = all[:min(len(all), max(limit, 0))]
	return gs, len(all) - len(gs)
}

// remaining is how long this member still holds r, as of now.
func (r *rec) remaining(now time.Time) time.Duration { return max(r.at.Add(Hold(r.ttl)).Sub(now), 0) }

// Len returns the number of live grants.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recs)
}

// Quiet reports whether the table refuses claims: not founded yet, or
// quiet until OpEndQuiet.
func (t *Table) Quiet() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.quiet || !t.founded
}

// Last returns the highest token issued.
func (t *Table) Last() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}
