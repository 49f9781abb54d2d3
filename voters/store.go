package voters

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/gossipsync/gossipsync/internal/atomicfile"
)

// store is a node's voter directory, DataDir/voters
// (cluster.Config.DataDir). It holds:
//
//   - seen: written once the node saw a group that had a leader
//     (memory.saw), and never removed: a node with a DataDir that saw a
//     group never founds one again, nor answers a founder that it saw
//     none, whatever its restarts;
//   - member: the group and Raft ID of the node's member, written
//     before the member starts, removed once it is dropped;
//   - raft-<id>: that member's Raft state (internal/raftgroup's Dir).
//
// A process that starts with a member named goes on as that member (see
// Service.restore); a raft-<id> that member does not name is left over
// from a member the node dropped, and is removed. A Raft directory that
// does not open (damaged) is renamed raft-<id>.damaged, for a person to
// look at, and the node goes on under a new ID, as a node without a
// DataDir would after a restart.
type store struct {
	dir string
	mu  sync.Mutex // orders setMember and clearMember
}

const (
	seenName   = "seen"
	memberName = "member"
	raftPrefix = "raft-"
	// memberSize is a member file's length: group and ID, 8 bytes each,
	// big-endian.
	memberSize = 16
)

// openStore returns the store under dataDir, creating it, or nil when
// dataDir is "" (memory only).
func openStore(dataDir string) (*store, error) {
	if dataDir == "" {
		return nil, nil
	}
	dir := filepath.Join(dataDir, "voters")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("voters: data dir: %w", err)
	}
	return &store{dir: dir}, nil
}

// sawGroup reports whether seen was written.
func (st *store) sawGroup() bool {
	if st == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(st.dir, seenName))
	return err == nil
}

// markSeen writes seen.
func (st *store) markSeen() error {
	if st == nil {
		return nil
	}
	return atomicfile.Write(st.dir, seenName, nil)
}

// storedMember is what a member file names.
type storedMember struct{ group, id uint64 }

// decodeMember parses a member file.
func decodeMember(b []byte) (storedMember, error) {
	if len(b) != memberSize {
		return storedMember{}, fmt.Errorf("voters: member file of %d bytes, want %d", len(b), memberSize)
	}
	m := storedMember{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
	if m.group == 0 || m.id == 0 {
		return storedMember{}, fmt.Errorf("voters: member file names group %x, ID %x", m.group, m.id)
	}
	return m, nil
}

// member returns the member the store names, if any, and removes the
// Raft directories of others.
func (st *store) member() (storedMember, bool, error) {
	if st == nil {
		return storedMember{}, false, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(st.dir, memberName))
	if errors.Is(err, fs.ErrNotExist) {
		_ = st.removeRaftDirs(0) // leftovers are harmless: removed next time
		return storedMember{}, false, nil
	}
	if err != nil {
		return storedMember{}, false, fmt.Errorf("voters: data dir: %w", err)
	}
	m, err := decodeMember(b)
	if err != nil {
		return storedMember{}, false, err
	}
	_ = st.removeRaftDirs(m.id)
	return m, true, nil
}

// raftDir is the Raft directory of member id.
func (st *store) raftDir(id uint64) string {
	return filepath.Join(st.dir, raftPrefix+strconv.FormatUint(id, 16))
}

// setMember names member id of group as the node's, and returns its
// (empty) Raft directory. The directory is made, and its name fsynced,
// before the member file names it: a member file always names a
// directory that exists, and restore takes a named member whose
// directory is missing for lost (a crash in setAside, or a directory
// removed by hand), never for one to start empty under the same ID. A
// crash before the member writes anything leaves a named member with
// an empty directory, which goes on as a member that has not been
// heard from yet: it vouched for nothing.
func (st *store) setMember(group, id uint64) (string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := os.MkdirAll(st.raftDir(id), 0o700); err != nil {
		return "", fmt.Errorf("voters: data dir: %w", err)
	}
	if err := atomicfile.SyncDir(st.dir); err != nil {
		return "", fmt.Errorf("voters: data dir: %w", err)
	}
	b := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, group), id)
	if err := atomicfile.Write(st.dir, memberName, b); err != nil {
		return "", fmt.Errorf("voters: data dir: %w", err)
	}
	if err := st.removeRaftDirs(id); err != nil {
		return "", err
	}
	return st.raftDir(id), nil
}

// clearMember forgets member id, if the store names it: its name, then
// its Raft directory.
func (st *store) clearMember(id uint64) error {
	if st == nil {
		return nil
	}
	if err := st.forgetName(id); err != nil {
		return err
	}
	if err := os.RemoveAll(st.raftDir(id)); err != nil {
		return fmt.Errorf("voters: data dir: %w", err)
	}
	return nil
}

// forgetName removes the member file if it names id (or is malformed).
func (st *store) forgetName(id uint64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(st.dir, memberName))
	if err == nil {
		if m, derr := decodeMember(b); derr != nil || m.id == id {
			err = os.Remove(filepath.Join(st.dir, memberName))
			if err == nil {
				err = atomicfile.SyncDir(st.dir)
			}
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("voters: data dir: %w", err)
	}
	return nil
}

// setAside retires member id: it forgets the member (the member file
// first, so that a crash midway never leaves the name of a member
// without its directory) and renames its Raft directory
// raft-<id>.damaged, for a person to look at.
func (st *store) setAside(id uint64) error {
	if err := st.forgetName(id); err != nil {
		return err
	}
	dir := st.raftDir(id)
	_ = os.RemoveAll(dir + ".damaged")
	if err := os.Rename(dir, dir+".damaged"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("voters: data dir: %w", err)
	}
	return nil
}

// hasRaftDir reports whether member id's Raft directory exists.
func (st *store) hasRaftDir(id uint64) bool {
	fi, err := os.Stat(st.raftDir(id))
	return err == nil && fi.IsDir()
}

// removeRaftDirs removes every Raft directory but keep's (0: all).
// st.mu is held.
func (st *store) removeRaftDirs(keep uint64) error {
	ents, err := os.ReadDir(st.dir)
	if err != nil {
		return fmt.Errorf("voters: data dir: %w", err)
	}
	for _, e := range ents {
		hex, ok := strings.CutPrefix(e.Name(), raftPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if id, err := strconv.ParseUint(hex, 16, 64); err != nil || id == keep {
			continue // not ours (a .damaged one), or the member's
		}
		if err := os.RemoveAll(filepath.Join(st.dir, e.Name())); err != nil {
			return fmt.Errorf("voters: data dir: %w", err)
		}
	}
	return nil
}
