package voters_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// newDirEnv is newEnv with a DataDir per node, kept across restarts.
func newDirEnv(t *testing.T, n int, seed int64) (*env, string) {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, ss: map[string]*voters.Service{}, rel: map[string]func(){}}
	e.c = simtest.StartOptions(t, sim.Options{Nodes: n, Seed: seed, Profile: cluster.Local, DataDir: root})
	for _, node := range e.c.Nodes() {
		e.acquire(node)
	}
	return e, root
}

// A restart of every node at once, with DataDirs, keeps the group: each
// node goes on as the member it was (same Raft ID, same group), a lease
// granted before the restart is still held after it (a new group would
// grant it at once), and tokens go on above those issued before.
func TestDataDirFullRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newDirEnv(t, 5, 11)
		e.waitWhole(20*time.Second, 5)
		before := map[string]voters.State{}
		for name, s := range e.live() {
			before[name] = s.State()
		}
		held := do(t, e.s("n3"), 5*time.Second, claim("held", leases.Holder{Node: "n3", Owner: "a"}, time.Minute))
		idle := do(t, e.s("n3"), 5*time.Second, claim("idle", leases.Holder{Node: "n3", Owner: "b"}, time.Second))
		if !held.OK || !idle.OK {
			t.Fatalf("claims: %+v %+v", held, idle)
		}
		if r := do(t, e.s("n3"), 5*time.Second, leases.Cmd{Op: leases.OpRelease, Key: "idle", Holder: leases.Holder{Node: "n3", Owner: "b"}, Token: idle.Token}); !r.OK {
			t.Fatalf("release: %+v", r)
		}
		for _, name := range e.c.Names() {
			e.crash(name)
		}
		time.Sleep(5 * time.Second) // every node down for longer than the failure threshold
		for _, name := range e.c.Names() {
			e.restart(name)
		}
		e.waitWhole(30*time.Second, 5)
		for name, s := range e.live() {
			st, was := s.State(), before[name]
			if st.ID != was.ID || st.Group != was.Group {
				t.Errorf("%s is member %x of group %x after the restart; was %x of %x", name, st.ID, st.Group, was.ID, was.Group)
			}
		}
		if r := do(t, e.s("n2"), 5*time.Second, claim("held", leases.Holder{Node: "n2"}, time.Second)); r.OK {
			t.Errorf("a lease held across the restart was granted again: %+v", r)
		}
		if r := do(t, e.s("n2"), 5*time.Second, claim("idle", leases.Holder{Node: "n2"}, time.Second)); !r.OK || r.Token <= idle.Token {
			t.Errorf("claim of idle after the restart: %+v; want a token above %d", r, idle.Token)
		}
	})
}

// A minority of the voters restarted with their DataDirs never founds a
// group beside the one they were in, however long it waits alone; once a
// majority is back the group goes on.
func TestDataDirMinorityWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newDirEnv(t, 3, 12)
		e.waitWhole(20*time.Second, 3)
		group := e.s("n1").State().Group
		for _, name := range e.c.Names() {
			e.crash(name)
		}
		e.restart("n2")
		time.Sleep(20 * time.Second)
		if st := e.s("n2").State(); st.Group != group || st.Leader {
			t.Fatalf("n2 alone: %+v; want a member of group %x that does not lead", st, group)
		}
		e.restart("n3")
		e.restart("n1")
		e.waitWhole(30*time.Second, 3)
		if g := e.leaderState().Group; g != group {
			t.Errorf("group %x after the restart, want %x", g, group)
		}
	})
}

// A node that restarts on its DataDir soon goes on under its Raft ID and
// is not replaced; one that stays down past the failure threshold was
// removed meanwhile, and comes back under a new ID, with its old state
// gone from its directory.
func TestDataDirOneRestart(t *testing.T) {
	for _, down := range []time.Duration{0, 4 * time.Second} {
		t.Run("down="+down.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, root := newDirEnv(t, 5, 13)
				e.waitWhole(20*time.Second, 5)
				name := "n4"
				if e.leader() == name {
					name = "n5"
				}
				old := e.s(name).State()
				oldDir := filepath.Join(root, name, "voters", "raft-"+strconv.FormatUint(old.ID, 16))
				if _, err := os.Stat(oldDir); err != nil {
					t.Fatalf("the member's Raft directory: %v", err)
				}
				e.crash(name)
				if down > 0 {
					e.waitWhole(30*time.Second, 3)
					time.Sleep(down)
				}
				s := e.restart(name)
				e.waitWhole(30*time.Second, 5)
				st := s.State()
				_, err := os.Stat(oldDir)
				switch {
				case down == 0 && st.ID != old.ID:
					t.Errorf("restarted at once: member %x, want %x", st.ID, old.ID)
				case down > 0 && st.ID == old.ID:
					t.Errorf("restarted after its removal under its old ID %x", st.ID)
				case down > 0 && !os.IsNotExist(err):
					t.Errorf("the removed member's directory is still there: %v", err)
				case st.Group != old.Group:
					t.Errorf("group %x, want %x", st.Group, old.Group)
				}
			})
		})
	}
}

// Two voters that were removed while they were down keep, in their
// DataDirs, an old configuration that counts them and a log without
// their removal. Restarted beside one member of the current
// configuration, with the others down, they are a majority of their old
// configuration, but never elect a leader nor grant anything: the
// current member's log is newer, so it refuses them its vote (Raft's
// election restriction), and it cannot win without another current
// member. Once one comes back the group goes on, with the lease held
// before still held, and the two rejoin under new IDs.
func TestDataDirStaleVotersCannotDecide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newDirEnv(t, 5, 14)
		e.waitWhole(20*time.Second, 5)
		lead := e.leader()
		var stale, rest []string
		for _, name := range e.c.Names() {
			if name != lead && len(stale) < 2 {
				stale = append(stale, name)
			} else {
				rest = append(rest, name)
			}
		}
		old := map[string]uint64{}
		for _, name := range stale {
			old[name] = e.s(name).State().ID
			e.crash(name)
		}
		e.waitWhole(30*time.Second, 3) // the two were removed
		group := e.leaderState().Group
		held := do(t, e.s(rest[0]), 5*time.Second, claim("held", leases.Holder{Node: rest[0]}, time.Minute))
		if !held.OK {
			t.Fatalf("claim: %+v", held)
		}
		for _, name := range rest {
			e.crash(name)
		}
		time.Sleep(5 * time.Second)
		for _, name := range append(slices.Clone(stale), rest[0]) {
			e.restart(name)
		}
		time.Sleep(15 * time.Second)
		for name, s := range e.live() {
			if s.State().Leader {
				t.Fatalf("%s leads with only %v and %s up", name, stale, rest[0])
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := e.s(stale[0]).Do(ctx, []leases.Cmd{claim("new", leases.Holder{Node: stale[0]}, time.Second)})
		cancel()
		if err == nil {
			t.Fatal("a claim was granted with no majority of the current configuration up")
		}
		e.restart(rest[1])
		e.restart(rest[2])
		e.waitWhole(60*time.Second, 5)
		for _, name := range stale {
			if st := e.s(name).State(); st.ID == old[name] || st.Group != group {
				t.Errorf("%s: member %x of group %x; want a new ID (was %x) in group %x", name, st.ID, st.Group, old[name], group)
			}
		}
		if r := do(t, e.s(stale[1]), 5*time.Second, claim("held", leases.Holder{Node: stale[1]}, time.Second)); r.OK {
			t.Errorf("the lease held across the restart was granted again: %+v", r)
		}
	})
}

// A member file that names a member whose Raft directory is missing (a
// crash while a damaged directory was set aside, or a directory removed
// by hand) retires the ID: the node comes back under a new one, never as
// that member with empty state, which would vote as if it never voted.
// Here the follower c lags (it missed a claim), and b, whose state is
// lost, comes back beside it while a, the other holder of the claim, is
// down: b must not vote for c as if it never voted, or c would lead and
// grant the claim again.
func TestDataDirLostStateRetiresID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, root := newDirEnv(t, 3, 21)
		e.waitWhole(20*time.Second, 3)
		a := e.leader()
		var others []string
		for _, n := range e.c.Names() {
			if n != a {
				others = append(others, n)
			}
		}
		b, c := others[0], others[1]
		bID := e.s(b).State().ID
		e.crash(c) // c lags from here on
		held := do(t, e.s(a), 5*time.Second, claim("L", leases.Holder{Node: a, Owner: "first"}, time.Minute))
		if !held.OK {
			t.Fatalf("claim: %+v", held)
		}
		e.crash(a)
		e.crash(b)
		dir := filepath.Join(root, b, "voters", "raft-"+strconv.FormatUint(bID, 16))
		if err := os.Rename(dir, dir+".damaged"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		e.restart(b)
		e.restart(c)
		time.Sleep(5 * time.Second)
		if id := e.s(b).State().ID; id == bID {
			t.Errorf("%s came back under the ID %x whose state is lost", b, id)
		}
		for _, n := range []string{b, c} {
			if e.s(n).State().Leader {
				if r := do(t, e.s(n), 5*time.Second, claim("L", leases.Holder{Node: n, Owner: "second"}, time.Minute)); r.OK {
					t.Errorf("L granted twice: first %+v, then %+v", held, r)
				}
			}
		}
	})
}
