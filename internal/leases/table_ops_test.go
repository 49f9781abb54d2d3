package leases

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

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

// List returns the live grants in key order, bounded, with a count of
// the rest, and drops released keys.
func TestList(t *testing.T) {
	tb := founded(t)
	for _, k := range []string{"l/b", "e/x", "l/a", "l/c"} {
		apply1(tb, claim(k, hA), t0)
	}
	apply1(tb, Cmd{Op: OpRelease, Key: "l/c", Holder: hA}, t0)
	tests := []struct {
		name     string
		limit    int
		wantKeys []string
		wantMore int
	}{
		{"all", 10, []string{"e/x", "l/a", "l/b"}, 0},
		{"bounded", 2, []string{"e/x", "l/a"}, 1},
		{"none", 0, nil, 3},
		{"negative", -1, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, more := tb.List(t0.Add(ttl), tt.limit)
			var keys []string
			for _, g := range gs {
				keys = append(keys, g.Key)
				if g.Holder != hA || g.Token == 0 || g.Remaining != ttl/4 {
					t.Errorf("grant %+v: want holder %+v, a token, remaining %v", g, hA, ttl/4)
				}
			}
			if !slices.Equal(keys, tt.wantKeys) || more != tt.wantMore {
				t.Errorf("List(%d) = %q, %d more; want %q, %d more", tt.limit, keys, more, tt.wantKeys, tt.wantMore)
			}
		})
	}
	// Claimed in the order l/b, e/x, l/a: tokens 1, 2, 3.
	gs, _ := tb.List(t0, 10)
	if got := []uint64{gs[0].Token, gs[1].Token, gs[2].Token}; !slices.Equal(got, []uint64{2, 3, 1}) {
		t.Errorf("tokens of e/x, l/a, l/b = %v; want [2 3 1]", got)
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
