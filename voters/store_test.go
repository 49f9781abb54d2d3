package voters

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStoreNone(t *testing.T) {
	st, err := openStore("")
	if st != nil || err != nil {
		t.Fatalf("openStore(\"\") = %v, %v; want nil, nil", st, err)
	}
	if st.sawGroup() || st.markSeen() != nil || st.clearMember(1) != nil {
		t.Error("a nil store must see nothing and do nothing")
	}
	if _, ok, err := st.member(); ok || err != nil {
		t.Errorf("member of a nil store: %v, %v", ok, err)
	}
}

// Each step of the store's life, and what a process that starts after a
// crash at that point finds.
func TestStoreLife(t *testing.T) {
	root := t.TempDir()
	reopen := func() *store {
		t.Helper()
		st, err := openStore(root)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := reopen()
	if st.sawGroup() {
		t.Fatal("a new store saw a group")
	}
	if _, ok, err := st.member(); ok || err != nil {
		t.Fatalf("a new store names a member: %v, %v", ok, err)
	}
	dir, err := st.setMember(0x10, 0xa)
	if err != nil {
		t.Fatal(err)
	}
	if !st.hasRaftDir(0xa) {
		t.Fatal("setMember named a member without making its directory first")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil { // as raftgroup does
		t.Fatal(err)
	}
	if err := st.markSeen(); err != nil {
		t.Fatal(err)
	}
	st = reopen() // a crash
	if !st.sawGroup() {
		t.Error("seen was lost")
	}
	if m, ok, err := st.member(); !ok || err != nil || m != (storedMember{0x10, 0xa}) {
		t.Fatalf("member after a restart: %+v, %v, %v", m, ok, err)
	}
	// A new member (the old one was dropped, or a crash came before
	// clearMember): the old Raft directory goes.
	dir2, err := st.setMember(0x10, 0xb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the old member's directory is left: %v", err)
	}
	if err := st.clearMember(0xa); err != nil { // a late clear of the old one
		t.Fatal(err)
	}
	if m, ok, _ := st.member(); !ok || m.id != 0xb {
		t.Fatalf("clearing the old member forgot the new one: %+v, %v", m, ok)
	}
	if err := os.MkdirAll(dir2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := st.setAside(0xb); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := reopen().member(); ok {
		t.Error("a member set aside is still named")
	}
	if _, err := os.Stat(dir2 + ".damaged"); err != nil {
		t.Errorf("the damaged directory is not kept: %v", err)
	}
	// A leftover Raft directory no member file names (a crash between
	// removing the name and the directory) is removed at the next start.
	left := filepath.Join(st.dir, "raft-c")
	if err := os.MkdirAll(left, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := reopen().member(); ok || err != nil {
		t.Fatalf("member: %v, %v", ok, err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("a leftover Raft directory is kept: %v", err)
	}
	if !reopen().sawGroup() {
		t.Error("seen does not last")
	}
}

func TestStoreMalformedMember(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, memberSize), make([]byte, memberSize+1)} {
		if err := os.WriteFile(filepath.Join(st.dir, memberName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := st.member(); ok || err == nil {
			t.Errorf("member file %x: %v, %v; want an error", b, ok, err)
		}
	}
	if err := st.clearMember(0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.member(); ok || err != nil {
		t.Errorf("a malformed member file is not cleared: %v, %v", ok, err)
	}
}

func FuzzDecodeMember(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, memberSize))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMember(b)
		if err != nil {
			return
		}
		if m.group == 0 || m.id == 0 || len(b) != memberSize {
			t.Fatalf("decodeMember(%x) = %+v", b, m)
		}
	})
}
