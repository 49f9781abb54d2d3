package leases

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// t0 is the time of the tests' first apply. Tables never read the
// wall clock, so any instant will do.
var t0 = time.Unix(1_000_000, 0)

var (
	hA = Holder{Node: "n1", Owner: "m1", Handle: 1}
	hB = Holder{Node: "n2", Owner: "m2", Handle: 1}
	hC = Holder{Node: "n3", Owner: "m3", Handle: 7}
)

const ttl = time.Second

// founded returns a table founded with tokens from 1 on.
func founded(tb testing.TB) *Table {
	tb.Helper()
	t := New()
	if r := apply1(t, Cmd{Op: OpFound}, t0); !r.OK {
		tb.Fatalf("found: %+v", r)
	}
	return t
}

func apply1(t *Table, c Cmd, now time.Time) Result { return t.Apply([]Cmd{c}, now)[0] }

func claim(key string, h Holder) Cmd { return Cmd{Op: OpClaim, Key: key, Holder: h, TTL: ttl} }

func renew(key string, h Holder, token uint64) Cmd {
	return Cmd{Op: OpRenew, Key: key, Holder: h, Token: token, TTL: ttl}
}

func release(key string, h Holder, token uint64) Cmd {
	return Cmd{Op: OpRelease, Key: key, Holder: h, Token: token}
}

func expire(key string, token, seq uint64) Cmd {
	return Cmd{Op: OpExpire, Key: key, Token: token, Seq: seq}
}

// dump renders a table's state, keys sorted: the replicated part, and
// with times also this member's apply times (preemptAt only where a
// preemption is recorded: it means nothing elsewhere).
func dump(t *Table, times bool) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "founded=%v last=%d quiet=%v\n", t.founded, t.last, t.quiet)
	for _, k := range slices.Sorted(maps.Keys(t.recs)) {
		r := t.recs[k]
		fmt.Fprintf(&b, "%q %+v token=%d ttl=%v seq=%d", k, r.holder, r.token, r.ttl, r.seq)
		if r.preempt != nil {
			fmt.Fprintf(&b, " preempt=%+v", *r.preempt)
		}
		if times {
			fmt.Fprintf(&b, " at=%d", r.at.UnixNano())
			if r.preempt != nil {
				fmt.Fprintf(&b, " preemptAt=%d", r.preemptAt.UnixNano())
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// clone deep-copies a table, times included.
func clone(t *Table) *Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &Table{founded: t.founded, last: t.last, quiet: t.quiet, recs: make(map[string]*rec, len(t.recs))}
	for k, r := range t.recs {
		cr := *r
		if r.preempt != nil {
			p := *r.preempt
			cr.preempt = &p
		}
		c.recs[k] = &cr
	}
	return c
}

func mustSnapshot(tb testing.TB, t *Table) []byte {
	tb.Helper()
	b, err := t.Snapshot()
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return b
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{
		OpClaim: "claim", OpRenew: "renew", OpRelease: "release", OpExpire: "expire",
		OpEndQuiet: "end-quiet", OpFound: "found", 0: "op(0)", 42: "op(42)",
	} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(op), got, want)
		}
	}
}

func TestCompareRank(t *testing.T) {
	// Each holder ranks above the ones before it.
	order := []Holder{
		{Priority: -1, Node: "z", Owner: "z", Handle: 9},
		{},
		{Node: "a"},
		{Node: "a", Owner: "a"},
		{Node: "a", Owner: "a", Handle: 1},
		{Node: "a", Owner: "b"},
		{Node: "b"},
		{Priority: 1},
		{Priority: 2, Node: "a"},
	}
	for i, a := range order {
		for j, b := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := CompareRank(a, b); got != want {
				t.Errorf("CompareRank(%+v, %+v) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestNewTableRefusesClaimsUntilFounded(t *testing.T) {
	tb := New()
	if !tb.Quiet() {
		t.Fatal("a new table is not quiet")
	}
	r := apply1(tb, claim("k", hA), t0)
	if r.OK || !r.Quiet || r.Token != 0 || r.Holder != nil {
		t.Fatalf("claim before OpFound: %+v", r)
	}
	if tb.Len() != 0 || tb.Last() != 0 {
		t.Fatalf("a refused claim left len %d last %d", tb.Len(), tb.Last())
	}
	// OpEndQuiet does not found a table.
	if r := apply1(tb, Cmd{Op: OpEndQuiet}, t0); !r.OK {
		t.Fatalf("end-quiet: %+v", r)
	}
	if r := apply1(tb, claim("k", hA), t0); r.OK || !r.Quiet {
		t.Fatalf("claim after end-quiet of an unfounded table: %+v", r)
	}
}

func TestFound(t *testing.T) {
	tb := New()
	rs := tb.Apply([]Cmd{{Op: OpFound, Token: 1000}, claim("a", hA), claim("b", hB)}, t0)
	if !rs[0].OK || rs[0].Last != 1000 {
		t.Fatalf("found: %+v", rs[0])
	}
	if !rs[1].OK || rs[1].Token != 1001 || !rs[2].OK || rs[2].Token != 1002 {
		t.Fatalf("claims after found at 1000: %+v %+v", rs[1], rs[2])
	}
	// A second OpFound does nothing, even with a higher base or Quiet.
	for _, c := range []Cmd{{Op: OpFound, Token: 5000, Quiet: true}, {Op: OpFound}} {
		before := dump(tb, true)
		if r := apply1(tb, c, t0); r.OK || r.Last != 1002 {
			t.Fatalf("second found %+v: %+v", c, r)
		}
		if after := dump(tb, true); after != before {
			t.Fatalf("second found %+v changed the table:\n%s\nto\n%s", c, before, after)
		}
	}
	if tb.Quiet() {
		t.Fatal("quiet after a second OpFound with Quiet")
	}
	if r := apply1(tb, claim("c", hC), t0); !r.OK || r.Token != 1003 {
		t.Fatalf("claim: %+v", r)
	}
}

func TestFoundQuietAndEndQuiet(t *testing.T) {
	tb := New()
	apply1(tb, Cmd{Op: OpFound, Token: 7, Quiet: true}, t0)
	if !tb.Quiet() {
		t.Fatal("not quiet after OpFound with Quiet")
	}
	for range 2 { // a quiet table refuses claims, and remembers none
		r := apply1(tb, Cmd{Op: OpClaim, Key: "k", Holder: hA, TTL: ttl, Preempt: true}, t0)
		if r.OK || !r.Quiet || r.Token != 0 || r.Last != 7 {
			t.Fatalf("claim while quiet: %+v", r)
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("len %d after refused claims", tb.Len())
	}
	for range 2 { // OpEndQuiet is idempotent
		if r := apply1(tb, Cmd{Op: OpEndQuiet}, t0); !r.OK || r.Last != 7 {
			t.Fatalf("end-quiet: %+v", r)
		}
		if tb.Quiet() {
			t.Fatal("quiet after OpEndQuiet")
		}
	}
	if r := apply1(tb, claim("k", hA), t0); !r.OK || r.Token != 8 {
		t.Fatalf("claim after end-quiet: %+v", r)
	}
}

func TestClaimFreeKey(t *testing.T) {
	tb := founded(t)
	r := apply1(tb, claim("k", hA), t0)
	if !r.OK || r.Token != 1 || r.Last != 1 || r.Holder != nil || r.Quiet || r.Remaining != 0 || r.Preempt {
		t.Fatalf("claim: %+v", r)
	}
	g, held, last := tb.Get("k", t0)
	if !held || g.Holder != hA || g.Token != 1 || g.Remaining != Hold(ttl) || last != 1 {
		t.Fatalf("get: %+v %v %d", g, held, last)
	}
	// Every grant takes the next token, whatever its key.
	r = apply1(tb, claim("other", hA), t0)
	if !r.OK || r.Token != 2 {
		t.Fatalf("claim of another key: %+v", r)
	}
	if tb.Len() != 2 || tb.Last() != 2 {
		t.Fatalf("len %d last %d", tb.Len(), tb.Last())
	}
}

func TestClaimHeldByOther(t *testing.T) {
	tb := founded(t)
	apply1(tb, claim("k", hA), t0)
	before := dump(tb, true)
	for _, at := range []time.Duration{0, ttl / 2, Hold(ttl) - 1, Hold(ttl), 10 * ttl} {
		r := apply1(tb, claim("k", hB), t0.Add(at))
		want := max(Hold(ttl)-at, 0)
		if r.OK || r.Token != 1 || r.Holder == nil || *r.Holder != hA || r.Remaining != want || r.Quiet || r.Last != 1 {
			t.Fatalf("claim by another at +%v: %+v (holder %v), want remaining %v", at, r, r.Holder, want)
		}
	}
	// A claim of a held key changes nothing, even past the hold (only
	// an OpExpire frees a grant).
	if after := dump(tb, true); after != before {
		t.Fatalf("refused claims changed the table:\n%s\nto\n%s", before, after)
	}
	// The refused holder is a copy: changing it does not change the table.
	r := apply1(tb, claim("k", hB), t0)
	r.Holder.Node = "changed"
	if g, _, _ := tb.Get("k", t0); g.Holder != hA {
		t.Fatalf("result aliases the table: %+v", g)
	}
	// A holder with another Handle is another holder.
	h2 := hA
	h2.Handle++
	if r := apply1(tb, claim("k", h2), t0); r.OK {
		t.Fatalf("claim by another handle of the same owner: %+v", r)
	}
}

func TestClaimRetryByHolder(t *testing.T) {
	tb := founded(t)
	apply1(tb, claim("k", hA), t0)
	apply1(tb, claim("x", hB), t0) // last = 2
	before := dump(tb, false)
	// A retry returns the token again, issues none, and renews the
	// grant: the holder counts its lease from before it sent the retry.
	for i, at := range []time.Duration{ttl / 2, ttl, 10 * ttl} {
		c := claim("k", hA)
		c.TTL = time.Duration(i+2) * time.Second
		r := apply1(tb, c, t0.Add(at))
		if !r.OK || r.Token != 1 || r.Last != 2 || r.Holder != nil || r.Remaining != 0 {
			t.Fatalf("retry at +%v: %+v", at, r)
		}
		g, held, _ := tb.Get("k", t0.Add(at))
		tb.mu.Lock()
		seq, recTTL := tb.recs["k"].seq, tb.recs["k"].ttl
		tb.mu.Unlock()
		if !held || g.Token != 1 || g.Remaining != Hold(c.TTL) || seq != uint64(i+1) || recTTL != c.TTL {
			t.Fatalf("after retry %d at +%v: %+v seq %d ttl %v", i+1, at, g, seq, recTTL)
		}
	}
	// Nothing else changed.
	apply1(tb, renew("k", hA, 1), t0) // back to TTL 1 s
	tb.mu.Lock()
	tb.recs["k"].seq = 0
	tb.mu.Unlock()
	if after := dump(tb, false); after != before {
		t.Fatalf("retries changed the table beyond the grant's renewal:\n%s\nto\n%s", before, after)
	}
	// So an expiry proposed from the hold before the retry does nothing.
	apply1(tb, claim("k", hA), t0.Add(2*ttl))
	if r := apply1(tb, expire("k", 1, 0), t0.Add(2*ttl)); r.OK {
		t.Fatalf("an expiry overtaken by a retry freed the grant: %+v", r)
	}
	// A retry is granted again even while the table is quiet: the grant
	// is there already.
	tb.mu.Lock()
	tb.quiet = true
	tb.mu.Unlock()
	if r := apply1(tb, claim("k", hA), t0); !r.OK || r.Token != 1 {
		t.Fatalf("retry while quiet: %+v", r)
	}
	if r := apply1(tb, claim("y", hA), t0); r.OK || !r.Quiet {
		t.Fatalf("new claim while quiet: %+v", r)
	}
}

func TestClaimRelaysFree(t *testing.T) {
	type tc struct {
		name string
		free *Cmd
		ok   bool // the claim is granted: Free released A's grant first
	}
	cases := []tc{
		{"release of the key by its holder", &Cmd{Op: OpRelease, Key: "k", Holder: hA, Token: 1}, true},
		{"token 0 names any grant", &Cmd{Op: OpRelease, Key: "k", Holder: hA}, true},
		{"another key", &Cmd{Op: OpRelease, Key: "other", Holder: hA, Token: 1}, false},
		{"another token", &Cmd{Op: OpRelease, Key: "k", Holder: hA, Token: 2}, false},
		{"another holder", &Cmd{Op: OpRelease, Key: "k", Holder: hC, Token: 1}, false},
		{"not a release", &Cmd{Op: OpExpire, Key: "k", Holder: hA, Token: 1}, false},
		{"a renewal", &Cmd{Op: OpRenew, Key: "k", Holder: hA, Token: 1, TTL: ttl}, false},
		{"the claimant itself", &Cmd{Op: OpRelease, Key: "k", Holder: hB, Token: 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := founded(t)
			apply1(tb, claim("k", hA), t0)
			apply1(tb, claim("other", hA), t0) // token 2
			cl := claim("k", hB)
			cl.Free = c.free
			r := apply1(tb, cl, t0)
			g, held, _ := tb.Get("k", t0)
			if c.ok {
				if !r.OK || r.Token != 3 || !held || g.Holder != hB || g.Token != 3 {
					t.Fatalf("claim with Free %+v: %+v, grant %+v", *c.free, r, g)
				}
			} else if r.OK || !held || g.Holder != hA || g.Token != 1 {
				t.Fatalf("claim with Free %+v: %+v, grant %+v", *c.free, r, g)
			}
			if _, held, _ := tb.Get("other", t0); !held {
				t.Fatal("Free released another key")
			}
		})
	}
	t.Run("free key", func(t *testing.T) {
		tb := founded(t)
		cl := claim("k", hB)
		cl.Free = &Cmd{Op: OpRelease, Key: "k", Holder: hA, Token: 1}
		if r := apply1(tb, cl, t0); !r.OK || r.Token != 1 {
			t.Fatalf("claim of a free key with Free: %+v", r)
		}
	})
	t.Run("retry after the relayed release", func(t *testing.T) {
		// The claim applied twice: the second Free names a holder that
		// holds no more, and the claim is a retry.
		tb := founded(t)
		apply1(tb, claim("k", hA), t0)
		cl := claim("k", hB)
		cl.Free = &Cmd{Op: OpRelease, Key: "k", Holder: hA, Token: 1}
		for range 2 {
			if r := apply1(tb, cl, t0); !r.OK || r.Token != 2 {
				t.Fatalf("claim with Free: %+v", r)
			}
		}
	})
}

func TestPreempt(t *testing.T) {
	low := Holder{Node: "n1", Owner: "c", Priority: 1}
	high := Holder{Node: "n2", Owner: "c", Priority: 2}
	equalRankLower := Holder{Node: "n0", Owner: "c", Priority: 1}
	pre := func(h Holder) Cmd { c := claim("e/g", h); c.Preempt = true; return c }

	t.Run("higher rank is recorded and told to the next renewal", func(t *testing.T) {
		tb := founded(t)
		apply1(tb, claim("e/g", low), t0)
		if r := apply1(tb, renew("e/g", low, 1), t0.Add(1)); !r.OK || r.Preempt {
			t.Fatalf("renewal before any preemption: %+v", r)
		}
		at := t0.Add(ttl / 2)
		r := apply1(tb, pre(high), at)
		if r.OK || r.Holder == nil || *r.Holder != low || r.Token != 1 {
			t.Fatalf("preempting claim: %+v", r)
		}
		// Renewals within Hold(TTL) of the preemption are told, on
		// this member's clock.
		for _, d := range []time.Duration{0, 1, Hold(ttl) - 1} {
			r := apply1(tb, renew("e/g", low, 1), at.Add(d))
			if !r.OK || !r.Preempt {
				t.Fatalf("renewal %v after the preemption: %+v", d, r)
			}
		}
		if r := apply1(tb, renew("e/g", low, 1), at.Add(Hold(ttl))); !r.OK || r.Preempt {
			t.Fatalf("renewal a hold after the preemption: %+v", r)
		}
		// A second preemption starts a new hold.
		at2 := at.Add(3 * ttl)
		apply1(tb, pre(high), at2)
		if r := apply1(tb, renew("e/g", low, 1), at2.Add(ttl)); !r.OK || !r.Preempt {
			t.Fatalf("renewal after a second preemption: %+v", r)
		}
	})
	t.Run("the hold is the renewal's TTL", func(t *testing.T) {
		tb := founded(t)
		apply1(tb, claim("e/g", low), t0)
		apply1(tb, pre(high), t0)
		c := renew("e/g", low, 1)
		c.TTL = 4 * ttl
		if r := apply1(tb, c, t0.Add(Hold(ttl))); !r.OK || !r.Preempt {
			t.Fatalf("renewal with a longer TTL: %+v", r)
		}
	})
	for _, c := range []struct {
		name string
		cmd  Cmd
	}{
		{"lower rank", pre(Holder{Node: "n9", Priority: 0})},
		{"lower rank, same priority", pre(equalRankLower)},
		{"higher rank without Preempt", claim("e/g", high)},
		{"the holder itself", pre(low)},
	} {
		t.Run(c.name+" is not recorded", func(t *testing.T) {
			tb := founded(t)
			apply1(tb, claim("e/g", low), t0)
			apply1(tb, c.cmd, t0)
			tb.mu.Lock()
			p := tb.recs["e/g"].preempt
			tb.mu.Unlock()
			if p != nil {
				t.Fatalf("preemption recorded: %+v", *p)
			}
			if r := apply1(tb, renew("e/g", low, 1), t0.Add(1)); !r.OK || r.Preempt {
				t.Fatalf("renewal: %+v", r)
			}
		})
	}
	t.Run("a free key is granted, not preempted", func(t *testing.T) {
		tb := founded(t)
		if r := apply1(tb, pre(high), t0); !r.OK || r.Token != 1 {
			t.Fatalf("claim: %+v", r)
		}
		if r := apply1(tb, renew("e/g", high, 1), t0); !r.OK || r.Preempt {
			t.Fatalf("renewal: %+v", r)
		}
	})
	t.Run("a new grant forgets the preemption", func(t *testing.T) {
		tb := founded(t)
		apply1(tb, claim("e/g", low), t0)
		apply1(tb, pre(high), t0)
		apply1(tb, release("e/g", low, 1), t0)
		apply1(tb, claim("e/g", low), t0)
		if r := apply1(tb, renew("e/g", low, 2), t0); !r.OK || r.Preempt {
			t.Fatalf("renewal of the new grant: %+v", r)
		}
	})
}

func TestRenew(t *testing.T) {
	tb := founded(t)
	apply1(tb, claim("k", hA), t0)
	apply1(tb, claim("x", hB), t0)
	before := dump(tb, true)
	for _, c := range []Cmd{
		renew("k", hB, 1),         // another holder
		renew("k", hA, 2),         // another token
		renew("k", hA, 0),         // token 0 is not "any" for a renewal
		renew("missing", hA, 1),   // no grant
		renew("x", hA, 2),         // another holder's key
		{Op: OpRenew, Key: "k"},   // empty holder
		{Op: OpRenew, Holder: hA}, // empty key
		{Op: OpRenew, Token: 1},   // neither
		renew("k", Holder{}, 1),   // empty holder with the token
		renew("k", hA, 1<<63+1),   // far token
		renew("k\x00", hA, 1),     // another key
		renew("K", hA, 1),         // keys are case-sensitive
		renew("k", hA, 1<<64-1),   // max token
		renew("k", Holder{Node: hA.Node, Owner: hA.Owner}, 1), // another handle
	} {
		if r := apply1(tb, c, t0.Add(ttl)); r.OK || r.Token != 0 || r.Preempt {
			t.Fatalf("mismatched renewal %+v: %+v", c, r)
		}
	}
	if after := dump(tb, true); after != before {
		t.Fatalf("mismatched renewals changed the table:\n%s\nto\n%s", before, after)
	}
	// A matching renewal extends the hold from its apply, with its TTL,
	// and counts.
	at := t0.Add(ttl)
	c := renew("k", hA, 1)
	c.TTL = 2 * ttl
	r := apply1(tb, c, at)
	if !r.OK || r.Token != 1 || r.Last != 2 || r.Preempt {
		t.Fatalf("renewal: %+v", r)
	}
	g, held, _ := tb.Get("k", at)
	if !held || g.Remaining != Hold(2*ttl) {
		t.Fatalf("after renewal: %+v", g)
	}
	for i := range 3 {
		if r := apply1(tb, renew("k", hA, 1), at); !r.OK {
			t.Fatalf("renewal %d: %+v", i, r)
		}
	}
	tb.mu.Lock()
	seq, ttlNow := tb.recs["k"].seq, tb.recs["k"].ttl
	tb.mu.Unlock()
	if seq != 4 || ttlNow != ttl {
		t.Fatalf("after 4 renewals: seq %d ttl %v", seq, ttlNow)
	}
	// The other grant is untouched.
	if g, _, _ := tb.Get("x", at); g.Remaining != Hold(ttl)-ttl {
		t.Fatalf("other grant: %+v", g)
	}
}

func TestRelease(t *testing.T) {
	setup := func(t *testing.T) *Table {
		tb := founded(t)
		apply1(tb, claim("k", hA), t0) // token 1
		apply1(tb, claim("x", hB), t0) // token 2
		return tb
	}
	t.Run("mismatches", func(t *testing.T) {
		tb := setup(t)
		before := dump(tb, true)
		for _, c := range []Cmd{
			release("k", hB, 1), release("k", hB, 0), release("k", hA, 2),
			release("missing", hA, 0), release("x", hA, 0), release("x", hA, 2),
			{Op: OpRelease, Key: "k", Token: 1},
		} {
			if r := apply1(tb, c, t0); r.OK || r.Last != 2 {
				t.Fatalf("mismatched release %+v: %+v", c, r)
			}
		}
		if after := dump(tb, true); after != before {
			t.Fatalf("mismatched releases changed the table:\n%s\nto\n%s", before, after)
		}
	})
	for _, token := range []uint64{1, 0} {
		t.Run(fmt.Sprintf("token %d", token), func(t *testing.T) {
			tb := setup(t)
			if r := apply1(tb, release("k", hA, token), t0); !r.OK || r.Last != 2 {
				t.Fatalf("release: %+v", r)
			}
			if _, held, last := tb.Get("k", t0); held || last != 2 {
				t.Fatal("still held after release")
			}
			if r := apply1(tb, release("k", hA, token), t0); r.OK {
				t.Fatalf("second release: %+v", r)
			}
			if tb.Len() != 1 {
				t.Fatalf("len %d", tb.Len())
			}
			// The key is free: the next grant takes a new token.
			if r := apply1(tb, claim("k", hB), t0); !r.OK || r.Token != 3 {
				t.Fatalf("claim after release: %+v", r)
			}
			// A release by the old holder does not free the new grant.
			if r := apply1(tb, release("k", hA, 0), t0); r.OK {
				t.Fatalf("old holder released the new grant: %+v", r)
			}
		})
	}
}

func TestExpire(t *testing.T) {
	tb := founded(t)
	apply1(tb, claim("k", hA), t0) // token 1
	apply1(tb, claim("x", hB), t0) // token 2
	apply1(tb, renew("k", hA, 1), t0)
	before := dump(tb, true)
	for _, c := range []Cmd{
		expire("k", 1, 0), // overtaken by the renewal
		expire("k", 1, 2), // a renewal it did not see
		expire("k", 2, 1), // another token
		expire("k", 0, 1),
		expire("missing", 1, 1),
		expire("x", 1, 1),
	} {
		if r := apply1(tb, c, t0.Add(10*ttl)); r.OK {
			t.Fatalf("mismatched expiry %+v: %+v", c, r)
		}
	}
	if after := dump(tb, true); after != before {
		t.Fatalf("mismatched expiries changed the table:\n%s\nto\n%s", before, after)
	}
	// The holder does not matter: the token and the renewal count do.
	c := expire("k", 1, 1)
	c.Holder = hC
	if r := apply1(tb, c, t0); !r.OK || r.Last != 2 {
		t.Fatalf("expiry: %+v", r)
	}
	if _, held, _ := tb.Get("k", t0); held {
		t.Fatal("held after expiry")
	}
	if r := apply1(tb, c, t0); r.OK {
		t.Fatalf("second expiry: %+v", r)
	}
	if r := apply1(tb, expire("x", 2, 0), t0); !r.OK || tb.Len() != 0 {
		t.Fatalf("expiry of x: %+v, len %d", r, tb.Len())
	}
	if r := apply1(tb, claim("k", hB), t0); !r.OK || r.Token != 3 {
		t.Fatalf("claim after expiry: %+v", r)
	}
}

func TestExpiredAtHoldBoundary(t *testing.T) {
	if Hold(ttl) != ttl+ttl/4 || Hold(4) != 5 || Hold(3) != 3 || Hold(0) != 0 {
		t.Fatalf("Hold(%v) = %v", ttl, Hold(ttl))
	}
	// Two members apply the same claim at their own times: each holds
	// it for Hold(TTL) from its own apply.
	m1, m2 := founded(t), founded(t)
	a1, a2 := t0, t0.Add(300*time.Millisecond)
	apply1(m1, claim("k", hA), a1)
	apply1(m2, claim("k", hA), a2)
	long := Cmd{Op: OpClaim, Key: "long", Holder: hB, TTL: 10 * time.Second} // not expiring here
	apply1(m1, long, a1)
	apply1(m2, long, a1)
	long.Op, long.Token = OpRenew, 2
	apply1(m1, long, a1) // seq 1 on m1 only
	for _, m := range []struct {
		t  *Table
		at time.Time
	}{{m1, a1}, {m2, a2}} {
		end := m.at.Add(Hold(ttl))
		if got := m.t.Expired(end.Add(-1)); len(got) != 0 {
			t.Fatalf("expired 1 ns before the hold ends: %+v", got)
		}
		got := m.t.Expired(end)
		want := []Cmd{{Op: OpExpire, Key: "k", Token: 1, Seq: 0}}
		if !slices.Equal(got, want) {
			t.Fatalf("expired at the hold's end: %+v, want %+v", got, want)
		}
		if g, held, _ := m.t.Get("k", end); !held || g.Remaining != 0 {
			t.Fatalf("get at the hold's end: %+v %v", g, held)
		}
		if g, _, _ := m.t.Get("k", end.Add(-1)); g.Remaining != 1 {
			t.Fatalf("get 1 ns before the hold's end: %+v", g)
		}
	}
	// m1 at a2+Hold: m2 still holds it 300 ms beyond m1.
	if got := m2.Expired(a1.Add(Hold(ttl))); len(got) != 0 {
		t.Fatalf("m2 expired at m1's end: %+v", got)
	}
	// A renewal moves the boundary to its own apply time, and the
	// expiry names the renewal count.
	r := a1.Add(ttl)
	apply1(m1, renew("k", hA, 1), r)
	if got := m1.Expired(r.Add(Hold(ttl) - 1)); len(got) != 0 {
		t.Fatalf("expired before the renewal's hold ended: %+v", got)
	}
	got := m1.Expired(r.Add(Hold(ttl)))
	if len(got) != 1 || got[0] != (Cmd{Op: OpExpire, Key: "k", Token: 1, Seq: 1}) {
		t.Fatalf("expired after the renewal: %+v", got)
	}
	// Both grants past their holds; every returned command frees its grant.
	far := a1.Add(time.Hour)
	all := m1.Expired(far)
	slices.SortFunc(all, func(a, b Cmd) int { return strings.Compare(a.Key, b.Key) })
	if len(all) != 2 || all[0].Key != "k" || all[1] != (Cmd{Op: OpExpire, Key: "long", Token: 2, Seq: 1}) {
		t.Fatalf("expired: %+v", all)
	}
	for _, r := range m1.Apply(all, far) {
		if !r.OK {
			t.Fatalf("expiry from Expired: %+v", r)
		}
	}
	if m1.Len() != 0 || len(m1.Expired(far)) != 0 {
		t.Fatalf("len %d after expiring all", m1.Len())
	}
}

func TestGet(t *testing.T) {
	tb := New()
	if g, held, last := tb.Get("k", t0); held || last != 0 || g != (Grant{}) {
		t.Fatalf("get on a new table: %+v %v %d", g, held, last)
	}
	apply1(tb, Cmd{Op: OpFound, Token: 41}, t0)
	apply1(tb, claim("k", hA), t0)
	apply1(tb, claim("j", hB), t0)
	if g, held, last := tb.Get("k", t0.Add(ttl)); !held || last != 43 || g != (Grant{Holder: hA, Token: 42, Remaining: ttl / 4}) {
		t.Fatalf("get k: %+v %v %d", g, held, last)
	}
	if g, held, last := tb.Get("missing", t0); held || last != 43 || g != (Grant{}) {
		t.Fatalf("get missing: %+v %v %d", g, held, last)
	}
	// Get is read-only: past the hold it reports 0 remaining and keeps it.
	if g, held, _ := tb.Get("k", t0.Add(time.Hour)); !held || g.Remaining != 0 {
		t.Fatalf("get past the hold: %+v %v", g, held)
	}
	if tb.Len() != 2 {
		t.Fatalf("len %d", tb.Len())
	}
}

func TestApplyBatchResults(t *testing.T) {
	tb := New()
	rs := tb.Apply([]Cmd{
		claim("k", hA),           // refused: not founded
		{Op: OpFound, Token: 10}, //
		claim("k", hA),           // 11
		claim("k", hB),           // refused, held by A
		release("k", hA, 11),     //
		claim("k", hB),           // 12
		renew("k", hB, 12),       //
		expire("k", 12, 1),       //
		{Op: 0}, {Op: 99},        // unknown ops do nothing
		{Op: OpEndQuiet}, //
		claim("j", hC),   // 13
	}, t0)
	wantOK := []bool{false, true, true, false, true, true, true, true, false, false, true, true}
	wantLast := []uint64{0, 10, 11, 11, 11, 12, 12, 12, 12, 12, 12, 13}
	if len(rs) != len(wantOK) {
		t.Fatalf("%d results", len(rs))
	}
	for i, r := range rs {
		if r.OK != wantOK[i] || r.Last != wantLast[i] {
			t.Errorf("result %d: %+v, want OK %v Last %d", i, r, wantOK[i], wantLast[i])
		}
	}
	if rs := tb.Apply(nil, t0); len(rs) != 0 {
		t.Fatalf("empty batch: %+v", rs)
	}
}

// sampleTable builds a table with a bit of everything: grants renewed,
// preempted, released and expired, at distinct times.
func sampleTable(tb testing.TB) *Table {
	tb.Helper()
	t := New()
	low := Holder{Node: "n1", Owner: "cand", Priority: 1}
	high := Holder{Node: "n2", Owner: "cand", Priority: 3}
	pre := claim("e/g", high)
	pre.Preempt = true
	t.Apply([]Cmd{{Op: OpFound, Token: 100}, claim("l/a", hA), claim("l/b", hB), claim("e/g", low)}, t0)
	t.Apply([]Cmd{renew("l/a", hA, 101), pre, claim("l/c", hC)}, t0.Add(time.Second))
	t.Apply([]Cmd{release("l/b", hB, 102), claim("l/d", hB), expire("l/c", 104, 0)}, t0.Add(2*time.Second))
	t.Apply([]Cmd{{Op: OpClaim, Key: "", Holder: Holder{}, TTL: 3 * time.Second}}, t0.Add(3*time.Second))
	return t
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	src := sampleTable(t)
	src.mu.Lock()
	src.quiet = true
	src.mu.Unlock()
	snap := mustSnapshot(t, src)

	dst := New()
	apply1(dst, Cmd{Op: OpFound, Token: 1}, t0)
	apply1(dst, claim("stale", hC), t0) // replaced by the snapshot
	at := t0.Add(time.Hour)
	if err := dst.Restore(snap, at); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, want := dump(dst, false), dump(src, false); got != want {
		t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
	}
	if !dst.Quiet() || dst.Last() != src.Last() || dst.Len() != src.Len() {
		t.Fatalf("quiet %v last %d len %d", dst.Quiet(), dst.Last(), dst.Len())
	}
	// Every grant counts as applied at the restore: held for its hold
	// from then, and a preemption it carries is told for a hold from then.
	dst.mu.Lock()
	for k, r := range dst.recs {
		if !r.at.Equal(at) || !r.preemptAt.Equal(at) {
			t.Errorf("%q: at %v preemptAt %v, want the restore time", k, r.at, r.preemptAt)
		}
	}
	dst.mu.Unlock()
	for _, k := range []string{"l/a", "e/g", "l/d", ""} {
		g, held, _ := dst.Get(k, at)
		src.mu.Lock()
		ttl := src.recs[k].ttl
		src.mu.Unlock()
		if !held || g.Remaining != Hold(ttl) {
			t.Errorf("%q after restore: %+v %v, want %v remaining", k, g, held, Hold(ttl))
		}
	}
	if got := dst.Expired(at.Add(Hold(ttl) - 1)); len(got) != 0 {
		t.Fatalf("expired within the hold after the restore: %+v", got)
	}
	if got := dst.Expired(at.Add(time.Hour)); len(got) != 4 {
		t.Fatalf("expired an hour after the restore: %+v", got)
	}
	r := apply1(dst, renew("e/g", Holder{Node: "n1", Owner: "cand", Priority: 1}, 103), at.Add(Hold(ttl)-1))
	if !r.OK || !r.Preempt {
		t.Fatalf("renewal of the preempted grant after the restore: %+v", r)
	}
	// The snapshot of the restored table restores to the same table.
	again := New()
	if err := again.Restore(mustSnapshot(t, dst), at); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(again, false), dump(dst, false); got != want {
		t.Fatalf("second round trip:\n%s\nwant:\n%s", got, want)
	}
	// The restored table goes on issuing tokens above the snapshot's.
	apply1(dst, Cmd{Op: OpEndQuiet}, at)
	if r := apply1(dst, claim("new", hA), at); !r.OK || r.Token != src.Last()+1 {
		t.Fatalf("claim after restore: %+v", r)
	}
	// The restore took copies: the source is unchanged by changes to dst.
	if _, held, _ := src.Get("new", at); held {
		t.Fatal("source changed")
	}
}

func TestRestoreEmptyAndUnfounded(t *testing.T) {
	for _, src := range []*Table{New(), founded(t)} {
		dst := sampleTable(t)
		if err := dst.Restore(mustSnapshot(t, src), t0); err != nil {
			t.Fatal(err)
		}
		if got, want := dump(dst, true), dump(src, true); got != want {
			t.Fatalf("restored:\n%s\nwant:\n%s", got, want)
		}
		// A restored table is usable: its map exists.
		apply1(dst, Cmd{Op: OpFound}, t0)
		if r := apply1(dst, claim("k", hA), t0); !r.OK {
			t.Fatalf("claim: %+v", r)
		}
	}
}

func TestRestoreRefusesCorruptSnapshots(t *testing.T) {
	snap := mustSnapshot(t, sampleTable(t))
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rec := func(token uint64) snapRecord { return snapRecord{Key: "k", Holder: hA, Token: token, TTL: ttl} }
	bad := map[string][]byte{
		"empty":              nil,
		"garbage":            []byte("not a snapshot"),
		"truncated":          snap[:len(snap)/2],
		"one byte":           snap[:1],
		"an array":           enc([]int{1, 2, 3}),
		"a string":           enc("snapshot"),
		"wrong field type":   enc(map[string]any{"f": true, "l": "ten", "r": nil}),
		"records not a list": enc(map[string]any{"f": true, "l": 10, "r": 5}),
		"token above last":   enc(snapshot{Founded: true, Last: 10, Recs: []snapRecord{rec(5), {Key: "j", Holder: hB, Token: 11, TTL: ttl}}}),
		"token 0":            enc(snapshot{Founded: true, Last: 10, Recs: []snapRecord{rec(0)}}),
		"grants, no last":    enc(snapshot{Founded: true, Recs: []snapRecord{rec(1)}}),
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			tb := sampleTable(t)
			before := dump(tb, true)
			if err := tb.Restore(data, t0.Add(time.Hour)); err == nil {
				t.Fatalf("restore of %x succeeded:\n%s", data, dump(tb, true))
			}
			if after := dump(tb, true); after != before {
				t.Fatalf("a refused restore changed the table:\n%s\nto\n%s", before, after)
			}
		})
	}
	// At the limit: a token equal to Last is fine.
	tb := New()
	if err := tb.Restore(enc(snapshot{Founded: true, Last: 5, Recs: []snapRecord{rec(5)}}), t0); err != nil {
		t.Fatalf("token = last: %v", err)
	}
}

// TestIdempotence checks, over random command sequences, that applying
// any command twice in a row has the effect of applying it once: the
// same replicated state, and the same times. The one difference allowed
// is by design: a renewal applied twice counts twice (Seq counts the
// renewals applied, and an expiry names it), and so does a claim that
// won (applied again, it is its holder's retry, which renews), so after
// a doubled renewal or claim that returned OK, Seq is one more.
func TestIdempotence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "e/g"}
	holders := []Holder{hA, hB, hC, {Node: "n1", Owner: "m1", Handle: 2}, {Node: "n4", Priority: 5}}
	randCmd := func(tb *Table, now time.Time) Cmd {
		k := keys[rng.IntN(len(keys))]
		h := holders[rng.IntN(len(holders))]
		g, held, last := tb.Get(k, now)
		token := uint64(rng.IntN(int(last) + 2))
		if held && rng.IntN(2) == 0 {
			token, h = g.Token, g.Holder // mostly commands that match
		}
		ttl := time.Duration(1+rng.IntN(4)) * time.Second
		switch rng.IntN(12) {
		case 0, 1, 2:
			c := Cmd{Op: OpClaim, Key: k, Holder: h, TTL: ttl, Preempt: rng.IntN(2) == 0}
			if held && rng.IntN(2) == 0 {
				c.Free = &Cmd{Op: OpRelease, Key: k, Holder: g.Holder, Token: g.Token * uint64(rng.IntN(2))}
			}
			return c
		case 3, 4:
			return Cmd{Op: OpRenew, Key: k, Holder: h, Token: token, TTL: ttl}
		case 5, 6:
			return Cmd{Op: OpRelease, Key: k, Holder: h, Token: token * uint64(rng.IntN(2))}
		case 7, 8:
			if ex := tb.Expired(now); len(ex) > 0 && rng.IntN(2) == 0 {
				return ex[rng.IntN(len(ex))]
			}
			return Cmd{Op: OpExpire, Key: k, Token: token, Seq: uint64(rng.IntN(3))}
		case 9:
			return Cmd{Op: OpEndQuiet}
		case 10:
			return Cmd{Op: OpFound, Token: uint64(rng.IntN(50)), Quiet: rng.IntN(2) == 0}
		}
		return Cmd{Op: Op(7 + rng.IntN(2)*200), Key: k, Holder: h, Token: token} // unknown ops
	}
	checked := map[Op]int{}
	for seqNo := range 300 {
		tb := New()
		now := t0
		if seqNo%4 != 0 { // mostly founded tables, some quiet
			apply1(tb, Cmd{Op: OpFound, Token: uint64(seqNo), Quiet: seqNo%5 == 0}, now)
		}
		for step := range 60 {
			now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
			c := randCmd(tb, now)
			once, twice := clone(tb), clone(tb)
			r1 := apply1(once, c, now)
			r2 := twice.Apply([]Cmd{c, c}, now)
			want := once
			if (c.Op == OpRenew || c.Op == OpClaim) && r1.OK {
				want = clone(once)
				want.recs[c.Key].seq++
			}
			if got, want := dump(twice, true), dump(want, true); got != want {
				t.Fatalf("sequence %d step %d: %+v applied twice:\n%s\nonce:\n%s", seqNo, step, c, got, want)
			}
			// The second application answers as the first one did, for
			// a claim (a retry gets its token back) and a renewal.
			if (c.Op == OpClaim || c.Op == OpRenew) && (r2[0].OK != r1.OK || r2[1].OK != r1.OK || r2[1].Token != r1.Token) {
				t.Fatalf("sequence %d step %d: %+v results once %+v, twice %+v", seqNo, step, c, r1, r2)
			}
			checked[c.Op]++
			tb = once
		}
	}
	for _, op := range []Op{OpClaim, OpRenew, OpRelease, OpExpire, OpEndQuiet, OpFound, 7} {
		if checked[op] < 100 {
			t.Errorf("%d %v checked", checked[op], op)
		}
	}
	t.Logf("commands checked: %v", checked)
}

// TestIdempotenceWithinBatch: a batch holding a command twice (a client
// retrying into the same entry) acts as the batch holding it once.
func TestIdempotenceWithinBatch(t *testing.T) {
	for _, c := range []Cmd{claim("k", hA), release("k", hB, 1), expire("k", 1, 0), {Op: OpFound}, {Op: OpEndQuiet}} {
		a, b := sampleTable(t), sampleTable(t)
		apply1(a, claim("k", hB), t0)
		apply1(b, claim("k", hB), t0)
		a.Apply([]Cmd{c, claim("z", hC)}, t0)
		b.Apply([]Cmd{c, c, claim("z", hC)}, t0)
		if got, want := dump(b, true), dump(a, true); got != want {
			t.Fatalf("%+v twice in a batch:\n%s\nonce:\n%s", c, got, want)
		}
	}
}

func TestMemoryBounded(t *testing.T) {
	tb := founded(t)
	const n = 100_000
	for i := range n {
		k := fmt.Sprintf("l/%d", i)
		h := Holder{Node: "n", Owner: "o", Handle: uint64(i)}
		rs := tb.Apply([]Cmd{claim(k, h), claim(k, hB), renew(k, h, uint64(i+1))}, t0)
		if !rs[0].OK || rs[1].OK || !rs[2].OK {
			t.Fatalf("key %d: %+v", i, rs)
		}
		var end Cmd
		if i%2 == 0 {
			end = release(k, h, uint64(i+1))
		} else {
			end = expire(k, uint64(i+1), 1)
		}
		if r := apply1(tb, end, t0); !r.OK {
			t.Fatalf("key %d: %+v: %+v", i, end, r)
		}
		// Commands on free keys leave nothing behind either.
		tb.Apply([]Cmd{renew(k, h, uint64(i+1)), release(k, h, 0), expire(k, uint64(i+1), 1)}, t0)
	}
	tb.mu.Lock()
	recs := len(tb.recs)
	tb.mu.Unlock()
	if tb.Len() != 0 || recs != 0 || tb.Last() != n {
		t.Fatalf("after %d keys claimed and freed: Len %d, records %d, last %d", n, tb.Len(), recs, tb.Last())
	}
	if snap := mustSnapshot(t, tb); len(snap) > 64 {
		t.Fatalf("snapshot of an empty table is %d bytes", len(snap))
	}
}

// TestConcurrentUse runs every method at once (for the race detector).
func TestConcurrentUse(t *testing.T) {
	tb := founded(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			h := Holder{Node: fmt.Sprint(w)}
			for i := range 200 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				k := fmt.Sprint(i % 7)
				r := apply1(tb, claim(k, h), now)
				if r.OK {
					apply1(tb, renew(k, h, r.Token), now)
				}
				tb.Apply(tb.Expired(now.Add(time.Hour)), now)
				tb.Get(k, now)
				tb.Len()
				tb.Last()
				tb.Quiet()
				if snap, err := tb.Snapshot(); err == nil && i%50 == 0 {
					other := New()
					if err := other.Restore(snap, now); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
