package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// dirCluster is a cluster whose members keep their state in a Dir each,
// with snapshots every 20 entries (and 5 kept below), so that restarts
// read snapshots and wal records both.
func dirCluster(t *testing.T, n int) (*cluster, map[uint64]string) {
	dirs := map[uint64]string{}
	for id := range uint64(n) {
		dirs[id+1] = t.TempDir()
	}
	c := newCluster(t, n, func(cfg *Config) {
		cfg.Dir = dirs[cfg.ID]
		cfg.SnapshotEntries, cfg.KeepEntries = 20, 5
	})
	return c, dirs
}

// Every member stops at once and starts again from its Dir: the group
// goes on with the same log (each member applies it again from its
// snapshot and wal), elects a leader, and takes new proposals from a
// member that proposed before (its proposal numbers start above its
// earlier ones).
func TestDirRestartAll(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _ := dirCluster(t, 3)
		defer c.close()
		c.waitLeader([]uint64{1, 2, 3}, 5*time.Second)
		for i := range 47 {
			propose(t, c.groups[uint64(i%3+1)], fmt.Sprint("before-", i))
		}
		before := c.waitConverged(5 * time.Second)
		for _, id := range []uint64{1, 2, 3} {
			c.crash(id)
		}
		c.net.heal()
		for _, id := range []uint64{1, 2, 3} {
			c.start(id, nil)
		}
		c.waitLeader([]uint64{1, 2, 3}, 10*time.Second)
		// At once, not after retries: a number at or below member 1's
		// earlier ones would be refused as a duplicate (ErrDropped).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := c.groups[1].Propose(ctx, []byte("after-0")); err != nil {
			t.Fatalf("the first proposal of member 1 after its restart: %v", err)
		}
		for i := range 9 {
			propose(t, c.groups[1], fmt.Sprint("after-", i+1))
		}
		after := c.waitConverged(5 * time.Second)
		if len(after) != len(before)+10 || !slices.Equal(after[:len(before)], before) {
			t.Fatalf("after the restart the log is %d entries, want the %d from before and 10 more", len(after), len(before))
		}
		for i := 1; i < len(after); i++ {
			if after[i].Index <= after[i-1].Index {
				t.Fatalf("index %d after %d", after[i].Index, after[i-1].Index)
			}
		}
		if restores := c.sms[1].restores.Load(); restores == 0 {
			t.Errorf("member 1 restored no snapshot at its restart: the test did not reach the snapshot path")
		}
	})
}

// One member stops, misses entries (some compacted away meanwhile),
// and starts again from its Dir under its ID: it catches up, and its
// term and vote are what they were.
func TestDirRestartOne(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, _ := dirCluster(t, 3)
		defer c.close()
		lead := c.waitLeader([]uint64{1, 2, 3}, 5*time.Second)
		follower := uint64(1)
		if lead == 1 {
			follower = 2
		}
		for i := range 10 {
			propose(t, c.groups[lead], fmt.Sprint("a-", i))
		}
		c.waitConverged(5 * time.Second)
		hs, _, _ := c.groups[follower].storage.InitialState()
		c.crash(follower)
		for i := range 40 {
			propose(t, c.groups[lead], fmt.Sprint("b-", i))
		}
		c.net.heal()
		g := c.start(follower, nil)
		if got, _, _ := g.storage.InitialState(); got.GetTerm() != hs.GetTerm() || got.GetVote() != hs.GetVote() || got.GetCommit() < hs.GetCommit() {
			t.Errorf("restarted with term %d vote %d commit %d; had term %d vote %d commit %d",
				got.GetTerm(), got.GetVote(), got.GetCommit(), hs.GetTerm(), hs.GetVote(), hs.GetCommit())
		}
		propose(t, g, "c")
		if log := c.waitConverged(10 * time.Second); len(log) != 51 {
			t.Errorf("%d entries applied, want 51", len(log))
		}
	})
}

// A Dir that holds state is refused with Voters: that would bootstrap a
// second log over the first.
func TestDirWithVotersRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, dirs := dirCluster(t, 3)
		c.waitLeader([]uint64{1, 2, 3}, 5*time.Second)
		c.close()
		_, err := Start(Config{ID: 1, Voters: []uint64{1, 2, 3}, Dir: dirs[1], Transport: c.net.endpoint(1), StateMachine: &logSM{}})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start with Voters on a used Dir: %v, want ErrInvalidConfig", err)
		}
	})
}

// A Dir holds one member at a time: a second Start on it, while the
// first runs, fails with ErrDirInUse and leaves the first running; once
// the first closed, the Dir starts again.
func TestDirInUse(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c, dirs := dirCluster(t, 3)
		c.waitLeader([]uint64{1, 2, 3}, 5*time.Second)
		_, err := Start(Config{ID: 1, Dir: dirs[1], Transport: c.net.endpoint(1), StateMachine: &logSM{}})
		if !errors.Is(err, ErrDirInUse) {
			t.Fatalf("Start on a Dir in use: %v, want ErrDirInUse", err)
		}
		if _, err := c.groups[1].Status(); err != nil {
			t.Fatalf("the first member after a refused second Start: %v", err)
		}
		c.close()
		g, err := Start(Config{ID: 1, Dir: dirs[1], Transport: c.net.endpoint(1), StateMachine: &logSM{}})
		if err != nil {
			t.Fatalf("Start on the Dir after Close: %v", err)
		}
		g.Close()
	})
}

func testEntries(from, to uint64, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Data: []byte(fmt.Sprint("e", i))})
	}
	return out
}

// The wal: a record cut short at its end (a crash before the fsync) is
// dropped and the wal goes on from the last whole one; entries that a
// new leader overwrote are replaced; damage before the end is an error.
func TestDirWAL(t *testing.T) {
	dir := t.TempDir()
	d, r, err := openDisk(dir)
	if err != nil || !r.empty() || r.seq != seqStride {
		t.Fatalf("a new Dir: %v, %+v", err, r)
	}
	hs := &raftpb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}
	must(t, d.save(hs, testEntries(1, 5, 1)))
	must(t, d.save(nil, testEntries(4, 6, 2))) // a new leader replaced 4 and 5
	d.close()
	wal := filepath.Join(dir, walName)
	whole, _ := os.ReadFile(wal)
	torn, _ := encodeState(nil, nil, testEntries(7, 7, 2))
	os.WriteFile(wal, append(slices.Clone(whole), torn[:len(torn)-3]...), 0o600)

	d, r, err = openDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.close()
	var got []string
	for _, e := range r.ents {
		got = append(got, fmt.Sprintf("%d/%d", e.GetIndex(), e.GetTerm()))
	}
	if fmt.Sprint(got) != "[1/1 2/1 3/1 4/2 5/2 6/2]" || r.hs.GetTerm() != 2 || r.seq != 2*seqStride {
		t.Errorf("restored entries %v, term %d, seq floor %d; want [1/1 2/1 3/1 4/2 5/2 6/2], 2, %d", got, r.hs.GetTerm(), r.seq, 2*seqStride)
	}
	if fi, _ := os.Stat(wal); fi.Size() != int64(len(whole)) {
		t.Errorf("the wal is %d bytes after the torn record was dropped, want %d", fi.Size(), len(whole))
	}
	os.WriteFile(wal, append(slices.Clone(whole), make([]byte, 4096)...), 0o600) // blocks allocated, never written
	if d, r2, err := openDisk(dir); err != nil || len(r2.ents) != 6 {
		t.Errorf("a zero-filled tail: %v, %d entries; want it dropped and 6 entries", err, len(r2.ents))
	} else {
		d.close()
	}
	bad := slices.Clone(whole)
	bad[20] ^= 0xff // inside the first record
	os.WriteFile(wal, bad, 0o600)
	if _, _, err := openDisk(dir); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a damaged record before the end: %v, want ErrCorrupt", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Replaying any bytes as a wal never panics, and replaying the whole
// records it reported gives the same state.
func FuzzDirReplay(f *testing.F) {
	b, _ := encodeState(nil, &raftpb.HardState{Term: proto.Uint64(1)}, testEntries(1, 3, 1))
	f.Add(b)
	f.Add(b[:len(b)-2])
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r restored
		good, err := r.replay(data)
		if err != nil {
			return
		}
		var again restored
		if n, err := again.replay(data[:good]); err != nil || n != good || len(again.ents) != len(r.ents) {
			t.Fatalf("replaying the %d good bytes: %d, %v, %d entries; want %d entries", good, n, err, len(again.ents), len(r.ents))
		}
	})
}
