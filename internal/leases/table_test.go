package leases

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
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
