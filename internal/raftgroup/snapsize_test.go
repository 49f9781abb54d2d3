package raftgroup

import (
	"bytes"
	"testing"
)

// bigSM's snapshots are 2 MiB, whatever it applied.
type bigSM struct{ n int }

func (s *bigSM) Apply(uint64, []byte) any  { s.n++; return s.n }
func (s *bigSM) Snapshot() ([]byte, error) { return bytes.Repeat([]byte{1}, 2<<20), nil }
func (s *bigSM) Restore(data []byte) error { return nil }

// After a snapshot of more than a MiB the next one waits until the
// entries applied since hold as many bytes, however many entries pass:
// small entries do not make a large state be encoded again and again.
func TestSnapshotWaitsForBytes(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newNetwork()
		defer net.close()
		e := net.endpoint(1)
		g, err := Start(Config{ID: 1, Voters: []uint64{1}, Transport: e, StateMachine: &bigSM{}, SnapshotEntries: 10, KeepEntries: 5})
		if err != nil {
			t.Fatal(err)
		}
		e.g.Store(g)
		defer g.Close()
		prop := func(n, size int) {
			for range n {
				propose(t, g, string(make([]byte, size)))
			}
		}
		prop(15, 10)
		first, _ := g.Status()
		if first.SnapshotIndex == 0 {
			t.Fatalf("no snapshot after 15 entries with SnapshotEntries 10")
		}
		prop(200, 10)
		if st, _ := g.Status(); st.SnapshotIndex != first.SnapshotIndex {
			t.Errorf("a snapshot at %d after 200 small entries; want none after the one at %d until a MiB is applied", st.SnapshotIndex, first.SnapshotIndex)
		}
		prop(20, 64<<10) // 1.25 MiB: not yet
		if st, _ := g.Status(); st.SnapshotIndex != first.SnapshotIndex {
			t.Errorf("a snapshot at %d after 1.25 MiB of entries; want none before 2 MiB", st.SnapshotIndex)
		}
		prop(20, 64<<10)
		if st, _ := g.Status(); st.SnapshotIndex == first.SnapshotIndex {
			t.Errorf("no snapshot after 2.5 MiB of entries; the last is still at %d", st.SnapshotIndex)
		}
	})
}
