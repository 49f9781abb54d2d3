package leases

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

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
