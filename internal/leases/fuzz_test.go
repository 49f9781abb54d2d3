package leases

import (
	"testing"
	"time"
)

// FuzzRestore: Restore never panics, and either refuses the data and
// leaves the table as it was, or yields a table whose snapshot restores
// to an equal table (replicated state and this member's times), whose
// tokens were all issued, and that goes on issuing new ones. The seed
// corpus is real snapshots, cut and extended.
func FuzzRestore(f *testing.F) {
	quiet := New()
	apply1(quiet, Cmd{Op: OpFound, Token: 1 << 40, Quiet: true}, t0)
	apply1(quiet, Cmd{Op: OpEndQuiet}, t0)
	apply1(quiet, Cmd{Op: OpFound, Token: 1 << 40, Quiet: true}, t0)
	for _, tb := range []*Table{New(), founded(f), sampleTable(f), quiet} {
		snap := mustSnapshot(f, tb)
		f.Add(snap)
		f.Add(snap[:len(snap)-1])
		f.Add(append(snap, 0xc0))
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := sampleTable(t)
		before := dump(tb, true)
		at := t0.Add(time.Hour)
		if err := tb.Restore(data, at); err != nil {
			if after := dump(tb, true); after != before {
				t.Fatalf("a refused restore (%v) changed the table:\n%s\nto\n%s", err, before, after)
			}
			return
		}
		restored := dump(tb, true)
		snap, err := tb.Snapshot()
		if err != nil {
			t.Fatalf("snapshot of a restored table: %v", err)
		}
		again := New()
		if err := again.Restore(snap, at); err != nil {
			t.Fatalf("restore of the snapshot of a restored table: %v\n%s", err, restored)
		}
		if got := dump(again, true); got != restored {
			t.Fatalf("round trip:\n%s\nwant:\n%s", got, restored)
		}
		// Every grant's token was issued: a new grant is above them all.
		last, quiet := tb.Last(), tb.Quiet()
		tb.mu.Lock()
		for k, r := range tb.recs {
			if r.token == 0 || r.token > last {
				t.Errorf("%q: token %d, last %d", k, r.token, last)
			}
		}
		_, taken := tb.recs["fuzz/new"]
		tb.mu.Unlock()
		r := apply1(tb, claim("fuzz/new", hA), at)
		if !quiet && !taken && (!r.OK || r.Token != last+1) {
			t.Fatalf("claim after restore (last %d): %+v", last, r)
		}
		tb.Expired(at)
		tb.Get("", at)
	})
}
