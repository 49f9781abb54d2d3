package leases

import (
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The tests in this file reproduce defects found while these tests were
// written, and fixed since (4159ca1): each failed before the fix.

// TestRegressionRetriedClaimRenewsTheHold: a claim retried by the holder
// that won it returns the grant again, and the holder counts its lease
// from before it sent the retry (lockmgr's coordinator claims again, with
// the same holder, after an attempt that timed out, and Acquire's
// leaseStart starts the lease at the attempt that returned OK). A retry
// that kept the hold of the first claim's apply let every member's hold
// end, and an expiry free the key, while the holder still counted on it
// (L3): the doc's argument ("the holder counts its lease TTL from before
// it sent the claim ..., which precedes every member's apply of it")
// needs the retry's apply to count. The retry now renews the grant.
func TestRegressionRetriedClaimRenewsTheHold(t *testing.T) {
	m := founded(t)
	apply1(m, claim("l/x", hA), t0) // the first attempt, applied; its answer is lost
	retrySent := t0.Add(ttl / 2)    // the holder counts its lease from here
	if r := apply1(m, claim("l/x", hA), retrySent.Add(time.Millisecond)); !r.OK || r.Token != 1 {
		t.Fatalf("retry: %+v", r)
	}
	leaseEnd := retrySent.Add(ttl)
	// No member may propose the expiry while the holder counts on it.
	if ex := m.Expired(leaseEnd.Add(-time.Millisecond)); len(ex) != 0 {
		t.Errorf("the member expires the grant at +%v, before the holder's lease ends at +%v: %+v",
			Hold(ttl), leaseEnd.Sub(t0), ex)
	}
	// An expiry proposed from the first claim's hold, applied after
	// the retry, must not free the grant the retry returned.
	if r := apply1(m, expire("l/x", 1, 0), leaseEnd.Add(-time.Millisecond)); r.OK {
		t.Errorf("an expiry proposed before the retry freed the grant the retry returned")
	}
}

// TestRegressionFoundNeverLowersTheCounter: Restore accepts a snapshot of
// an unfounded table that issued tokens (no table makes one, but Restore
// takes it), and OpFound set the counter to its Token, below the tokens
// issued: the next claim reused token 1 while token 48 was held (L1).
// OpFound now only raises the counter.
func TestRegressionFoundNeverLowersTheCounter(t *testing.T) {
	data, err := msgpack.Marshal(&snapshot{Last: 48, Recs: []snapRecord{{Key: "k", Holder: hA, Token: 48, TTL: ttl}}})
	if err != nil {
		t.Fatal(err)
	}
	tb := New()
	if err := tb.Restore(data, t0); err != nil {
		return // refused: fine
	}
	apply1(tb, Cmd{Op: OpFound}, t0)
	if r := apply1(tb, claim("j", hB), t0); r.OK && r.Token <= 48 {
		t.Errorf("token %d issued after a restore with token 48 held", r.Token)
	}
}

// TestRegressionRestoreMemoryBounded: Restore decoded with
// msgpack.Unmarshal, whose pooled Decoder keeps its read buffer across
// calls, and readNGrow (msgpack v5.4.1) grows that buffer by at least 1
// MiB (then by append's 1.25x) on every failed read of a long string or
// binary: a few bytes declaring a 1.7 GB bin32 made each Restore call
// allocate more than the one before, until a GC emptied the pool (long
// `go test -fuzz=FuzzRestore` runs stalled on it, at gigabytes per
// input). Restore now decodes with a decoder of its own.
func TestRegressionRestoreMemoryBounded(t *testing.T) {
	data := []byte{0x81, 0xa1, 'x', 0xc6, 0x6a, 0x8d, 0xea, 0x5d, 1, 2, 3} // {"x": bin32 of 1.7 GB, truncated}
	var ms runtime.MemStats
	tb := New()
	var most uint64
	for range 40 {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		if err := tb.Restore(data, t0); err == nil {
			t.Fatal("restore succeeded")
		}
		runtime.ReadMemStats(&ms)
		most = max(most, ms.TotalAlloc-before)
	}
	// A fresh decoder allocates about 1 MiB for it, every time.
	if most > 4<<20 {
		t.Errorf("a refused restore of an 11-byte snapshot allocated %d KB", most>>10)
	}
}

// TestRegressionRestoreDeclaredLengths: a snapshot whose array header
// declares four billion records, in eight bytes, is refused at once.
// msgpack v5.4.1 made the slice that long before reading a record, and
// the process ran out of memory (found by eventlog's fuzzer, the same
// decoding).
func TestRegressionRestoreDeclaredLengths(t *testing.T) {
	data := []byte{0x81, 0xa1, 'r', 0xdd, 0xff, 0xff, 0xff, 0xff}
	if err := New().Restore(data, t0); err == nil {
		t.Fatal("restored a snapshot of four billion records held in no bytes")
	}
}
