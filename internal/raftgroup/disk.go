package raftgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/gossipsync/gossipsync/internal/atomicfile"
)

// Durable storage (Config.Dir). A member with a Dir keeps there what
// Raft needs a member never to lose while it counts toward a majority:
//
//   - wal: the HardState (term, vote, commit) and the log entries since
//     the last snapshot, as records appended and fsynced before the
//     member sends the messages of the Ready they came in (an ack of an
//     append, or a vote, is sent only once what it vouches for is on
//     disk);
//   - snap: the last snapshot (written to a temporary file, fsynced and
//     renamed); when one is written, the wal is rewritten to hold the
//     HardState and the entries after it, so the directory holds about
//     SnapshotEntries entries besides the state;
//   - seq: the floor of this incarnation's proposal numbers, raised by
//     seqStride at every start, so that a restarted member's proposals
//     are never taken for duplicates of its earlier ones.
//
// A record is: length (4 bytes, of kind and body) | CRC-32C of kind and
// body (4 bytes) | kind (1 byte) | body (a protobuf message). A record
// cut short at the end of the wal is a write that a crash interrupted
// before its fsync, so nothing vouched for it: it is dropped. Any other
// damage is an error, and the member does not start.
const (
	walName  = "wal"
	snapName = "snap"
	seqName  = "seq"
	lockName = "lock"

	recHardState byte = 1
	recEntry     byte = 2

	// maxRecord bounds a record's declared length (raft's own bound on
	// the uncommitted entries, MaxUncommittedEntriesSize, is 64 MiB).
	maxRecord = 64 << 20
	// seqStride is how far each start raises the proposal numbers: more
	// proposals than one incarnation makes.
	seqStride = 1 << 40
)

// ErrCorrupt is returned by Start when Config.Dir holds damaged state.
var ErrCorrupt = errors.New("raftgroup: damaged state in Dir")

// checksum is the CRC-32C of b (MakeTable returns the one table it
// keeps for Castagnoli).
func checksum(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// disk is a member's Dir.
type disk struct {
	dir  string
	wal  *os.File
	lock *os.File // holds the Dir's lock until close
	buf  []byte   // reused by save
}

// restored is what a Dir held at start.
type restored struct {
	snap *raftpb.Snapshot  // nil if none
	hs   *raftpb.HardState // nil if none
	ents []*raftpb.Entry   // consecutive, after snap
	seq  uint64            // this incarnation's proposals are numbered above it
}

func (r *restored) empty() bool { return r.snap == nil && r.hs == nil && len(r.ents) == 0 }

// openDisk reads dir (creating it if need be), raises its proposal
// floor, and opens its wal for appending after the last whole record.
// It locks dir (lockName) until close: a second member on it fails with
// ErrDirInUse. The names it creates (dir in its parent, the wal in dir)
// are fsynced before it returns, so that a crash cannot lose a file a
// record was acknowledged from.
func openDisk(dir string) (*disk, *restored, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("raftgroup: Dir: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, nil, fmt.Errorf("raftgroup: Dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	d, r, err := readDisk(dir)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	d.lock = lock
	return d, r, nil
}

// readDisk is openDisk once dir is locked.
func readDisk(dir string) (*disk, *restored, error) {
	r := &restored{}
	var err error
	if r.snap, err = readSnap(filepath.Join(dir, snapName)); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, walName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("raftgroup: read wal: %w", err)
	}
	good, err := r.replay(data)
	if err != nil {
		return nil, nil, err
	}
	if r.seq, err = raiseSeq(dir); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, walName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("raftgroup: open wal: %w", err)
	}
	if err := f.Truncate(int64(good)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("raftgroup: truncate wal: %w", err)
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("raftgroup: seek wal: %w", err)
	}
	if err := atomicfile.SyncDir(dir); err != nil { // the wal's name
		f.Close()
		return nil, nil, fmt.Errorf("raftgroup: Dir: %w", err)
	}
	return &disk{dir: dir, wal: f}, r, nil
}

// replay reads the wal's records into r and returns the length of its
// whole records.
func (r *restored) replay(data []byte) (int, error) {
	off := 0
	for off < len(data) {
		kind, body, n, err := nextRecord(data[off:])
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return off, nil // cut short by a crash: never fsynced
		}
		if err != nil {
			return 0, fmt.Errorf("%w: wal record at byte %d: %v", ErrCorrupt, off, err)
		}
		if err := r.add(kind, body); err != nil {
			return 0, fmt.Errorf("%w: wal record at byte %d: %v", ErrCorrupt, off, err)
		}
		off += n
	}
	return off, nil
}

// nextRecord splits the first record off data. io.ErrUnexpectedEOF
// means the record runs past the end of data.
func nextRecord(data []byte) (kind byte, body []byte, n int, err error) {
	if len(data) < 8 {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	size := binary.LittleEndian.Uint32(data)
	if size < 1 || size > maxRecord {
		if allZero(data) {
			// Blocks a crash left allocated but never written: the
			// fsync that would have vouched for them did not happen.
			return 0, nil, 0, io.ErrUnexpectedEOF
		}
		return 0, nil, 0, fmt.Errorf("length %d", size)
	}
	if uint64(len(data)-8) < uint64(size) {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	rec := data[8 : 8+size]
	if checksum(rec) != binary.LittleEndian.Uint32(data[4:]) {
		if 8+int(size) == len(data) {
			return 0, nil, 0, io.ErrUnexpectedEOF // the last record, torn
		}
		return 0, nil, 0, errors.New("checksum mismatch")
	}
	return rec[0], rec[1:], 8 + int(size), nil
}

// add applies one record: a HardState replaces the last; an entry
// replaces those at or after its index (a new leader overwrote them)
// and must follow the one before it.
func (r *restored) add(kind byte, body []byte) error {
	switch kind {
	case recHardState:
		var hs raftpb.HardState
		if err := proto.Unmarshal(body, &hs); err != nil {
			return err
		}
		r.hs = &hs
	case recEntry:
		var e raftpb.Entry
		if err := proto.Unmarshal(body, &e); err != nil {
			return err
		}
		base := r.snap.GetMetadata().GetIndex()
		if e.GetIndex() <= base {
			return nil // covered by the snapshot
		}
		for len(r.ents) > 0 && r.ents[len(r.ents)-1].GetIndex() >= e.GetIndex() {
			r.ents = r.ents[:len(r.ents)-1]
		}
		want := base + 1
		if len(r.ents) > 0 {
			want = r.ents[len(r.ents)-1].GetIndex() + 1
		}
		if e.GetIndex() != want {
			return fmt.Errorf("entry %d where %d was due", e.GetIndex(), want)
		}
		r.ents = append(r.ents, &e)
	default:
		return fmt.Errorf("kind %d", kind)
	}
	return nil
}

// appendRecord appends one record of kind and msg to b.
func appendRecord(b []byte, kind byte, msg proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, msg)
	if err != nil {
		return nil, err
	}
	rec := b[start+8:]
	if len(rec) > maxRecord {
		return nil, fmt.Errorf("raftgroup: a record of %d bytes", len(rec))
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(rec)))
	binary.LittleEndian.PutUint32(b[start+4:], checksum(rec))
	return b, nil
}

// save appends ents and then hs (either may be empty) to the wal and
// fsyncs it; without a Dir (d nil) it does nothing.
func (d *disk) save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if d == nil || hs == nil && len(ents) == 0 {
		return nil
	}
	b, err := encodeState(d.buf[:0], hs, ents)
	if err != nil {
		return err
	}
	d.buf = b
	if _, err := d.wal.Write(b); err != nil {
		return fmt.Errorf("raftgroup: write wal: %w", err)
	}
	if err := d.wal.Sync(); err != nil {
		return fmt.Errorf("raftgroup: sync wal: %w", err)
	}
	return nil
}

func encodeState(b []byte, hs *raftpb.HardState, ents []*raftpb.Entry) ([]byte, error) {
	var err error
	for _, e := range ents {
		if b, err = appendRecord(b, recEntry, e); err != nil {
			return nil, err
		}
	}
	if hs != nil {
		if b, err = appendRecord(b, recHardState, hs); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// saveSnapshot makes snap the Dir's snapshot and rewrites the wal to
// hold hs and ents (the entries after snap).
func (d *disk) saveSnapshot(snap *raftpb.Snapshot, hs *raftpb.HardState, ents []*raftpb.Entry) error {
	data, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	frame := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint64(nil, uint64(len(data))), checksum(data))
	if err := writeAtomic(d.dir, snapName, append(frame, data...)); err != nil {
		return err
	}
	walData, err := encodeState(nil, hs, ents)
	if err != nil {
		return err
	}
	// The new wal is opened before it replaces the old one, so that no
	// failure after the rename leaves the member writing to the old,
	// unlinked file; a failure from the rename on is errAfterSwap.
	tmp := filepath.Join(d.dir, walName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("raftgroup: write wal: %w", err)
	}
	if _, err := f.Write(walData); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("raftgroup: write wal: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, walName)); err != nil {
		f.Close()
		return fmt.Errorf("%w: %v", errAfterSwap, err)
	}
	d.wal.Close()
	d.wal = f
	if err := atomicfile.SyncDir(d.dir); err != nil {
		return fmt.Errorf("%w: %v", errAfterSwap, err)
	}
	return nil
}

// errAfterSwap is a failure of saveSnapshot from the rename of the new
// wal on: whether the old or the new wal is the one a restart reads is
// not known, so the member must stop.
var errAfterSwap = errors.New("raftgroup: replacing the wal failed")

// readSnap reads the snapshot file at path; nil if there is none.
func readSnap(path string) (*raftpb.Snapshot, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raftgroup: read snapshot: %w", err)
	}
	if len(data) < 12 || binary.LittleEndian.Uint64(data) != uint64(len(data)-12) ||
		checksum(data[12:]) != binary.LittleEndian.Uint32(data[8:]) {
		return nil, fmt.Errorf("%w: snapshot file of %d bytes does not check", ErrCorrupt, len(data))
	}
	var s raftpb.Snapshot
	if err := proto.Unmarshal(data[12:], &s); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
	}
	return &s, nil
}

// raiseSeq raises the Dir's proposal floor by seqStride and returns it.
func raiseSeq(dir string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, seqName))
	var floor uint64
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("raftgroup: read seq: %w", err)
	case len(data) != 8:
		return 0, fmt.Errorf("%w: seq file of %d bytes", ErrCorrupt, len(data))
	default:
		floor = binary.LittleEndian.Uint64(data)
	}
	floor += seqStride
	if err := writeAtomic(dir, seqName, binary.LittleEndian.AppendUint64(nil, floor)); err != nil {
		return 0, err
	}
	return floor, nil
}

// close closes the wal and releases the Dir's lock; a nil disk (no
// Dir) has nothing to close.
func (d *disk) close() error {
	if d == nil {
		return nil
	}
	err := d.wal.Close()
	if d.lock != nil {
		d.lock.Close() // closing the file releases its lock
	}
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writeAtomic is atomicfile.Write, its errors this package's.
func writeAtomic(dir, name string, data []byte) error {
	if err := atomicfile.Write(dir, name, data); err != nil {
		return fmt.Errorf("raftgroup: %w", err)
	}
	return nil
}
