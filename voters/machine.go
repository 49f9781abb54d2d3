package voters

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// eventsTag starts a log entry of event commands, and a snapshot that
// holds the event log beside the lease table: 0xc1 is the one byte
// msgpack never uses, so no lease entry (a msgpack array) and no lease
// snapshot (a msgpack map) starts with it.
const eventsTag = 0xc1

// eventRetention is what a topic keeps unless configured otherwise.
var eventRetention = eventlog.Retention{MaxBytes: 64 << 20}

// machine replicates the voters' state: the lease table, whose entries
// are batches of lease commands, and the event log, whose entries are
// eventsTag and a batch of event commands. It records when it applied
// each grant on clk, the node's clock.
type machine struct {
	t    *leases.Table
	ev   *eventlog.Table
	clk  cluster.Clock
	seen *stampSeen // when the latest event time was applied here
}

// stampSeen is the latest time an event command was stamped with, and
// when (by this node's clock, monotonic reading included) this member
// applied it: a member that becomes leader goes on from it by the time
// passed since (member.eventTime).
type stampSeen struct {
	mu  sync.Mutex
	now int64
	at  time.Time
}

// note records the commands' latest stamp, applied at at. A stamp
// applied again (a leader whose clock was behind stamps the log's latest
// time until its own catches up) moves at to the latest application:
// the time since then is sure to have passed.
func (s *stampSeen) note(cmds []eventlog.Cmd, at time.Time) {
	for _, c := range cmds {
		s.noteTime(c.Now, at)
	}
}

func (s *stampSeen) noteTime(now int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now != 0 && now >= s.now {
		s.now, s.at = now, at
	}
}

func (s *stampSeen) get() (int64, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now, s.at
}

func (m machine) Apply(_ uint64, data []byte) any {
	if len(data) > 0 && data[0] == eventsTag {
		cmds, err := decodeEventCmds(data[1:])
		if err != nil {
			return errtext.Errorf("voters: ", "voters: malformed entry: %w", err)
		}
		if m.seen != nil {
			m.seen.note(cmds, m.clk.Now())
		}
		return m.ev.Apply(cmds)
	}
	cmds, rest, ok := leases.ParseCmds(data)
	if !ok || len(rest) != 0 {
		cmds = nil
		if err := msgpack.Unmarshal(data, &cmds); err != nil {
			return errtext.Errorf("voters: ", "voters: malformed entry: %w", err)
		}
	}
	return m.t.Apply(cmds, m.clk.Now())
}

// appendEventCmds appends the log entry of cmds.
func appendEventCmds(b []byte, cmds []eventlog.Cmd) ([]byte, error) {
	enc, err := msgpack.Marshal(cmds)
	return append(append(b, eventsTag), enc...), err
}

func decodeEventCmds(b []byte) ([]eventlog.Cmd, error) {
	if err := wire.Check(b); err != nil {
		return nil, err
	}
	var cmds []eventlog.Cmd
	err := msgpack.NewDecoder(bytes.NewReader(b)).Decode(&cmds)
	return cmds, err
}

// snapshot is the state in two parts, each its table's own encoding.
type snapshot struct {
	Leases []byte `msgpack:"l"`
	Events []byte `msgpack:"e"`
}

// Snapshot returns eventsTag and both tables' snapshots.
func (m machine) Snapshot() ([]byte, error) {
	l, err := m.t.Snapshot()
	if err != nil {
		return nil, err
	}
	e, err := m.ev.Snapshot()
	if err != nil {
		return nil, err
	}
	return appendSnapshot(make([]byte, 0, 16+len(l)+len(e)), l, e), nil
}

// appendSnapshot appends eventsTag and the msgpack encoding of
// snapshot{l, e} (a map of two bin32 values) to b, copying each part
// once: the event log may be tens of MiB.
func appendSnapshot(b, l, e []byte) []byte {
	b = append(b, eventsTag, 0x82) // a map of 2
	for _, part := range []struct {
		key  byte
		data []byte
	}{{'l', l}, {'e', e}} {
		b = append(b, 0xa1, part.key, 0xc6) // a 1-byte string; bin32
		b = binary.BigEndian.AppendUint32(b, uint32(len(part.data)))
		b = append(b, part.data...)
	}
	return b
}

// Restore takes what Snapshot returns, or a lease table's snapshot alone
// (the event log then starts empty).
func (m machine) Restore(data []byte) error {
	if len(data) == 0 || data[0] != eventsTag {
		if err := m.t.Restore(data, m.clk.Now()); err != nil {
			return err
		}
		m.ev.Reset()
		return nil
	}
	var s snapshot
	if err := wire.Check(data[1:]); err != nil {
		return fmt.Errorf("voters: restore: %w", err)
	}
	if err := msgpack.NewDecoder(bytes.NewReader(data[1:])).Decode(&s); err != nil {
		return fmt.Errorf("voters: restore: %w", err)
	}
	if err := m.t.Restore(s.Leases, m.clk.Now()); err != nil {
		return err
	}
	if err := m.ev.Restore(s.Events); err != nil {
		return err
	}
	// The snapshot's latest event time, as of now: the time since it
	// was stamped is unknown, so a leader this member becomes goes on
	// from it late rather than early (member.eventTime).
	if m.seen != nil {
		m.seen.noteTime(m.ev.LastNow(), m.clk.Now())
	}
	return nil
}
