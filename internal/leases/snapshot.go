package leases

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/internal/wire"
)

type snapshot struct {
	Founded bool         `msgpack:"f"`
	Last    uint64       `msgpack:"l"`
	Quiet   bool         `msgpack:"q,omitempty"`
	Recs    []snapRecord `msgpack:"r"`
}

type snapRecord struct {
	Key     string        `msgpack:"k"`
	Holder  Holder        `msgpack:"h"`
	Token   uint64        `msgpack:"t"`
	TTL     time.Duration `msgpack:"d"`
	Seq     uint64        `msgpack:"s"`
	Preempt *Holder       `msgpack:"x,omitempty"`
}

// Snapshot encodes the replicated part of the table.
func (t *Table) Snapshot() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := snapshot{Founded: t.founded, Last: t.last, Quiet: t.quiet, Recs: make([]snapRecord, 0, len(t.recs))}
	for k, r := range t.recs {
		s.Recs = append(s.Recs, snapRecord{Key: k, Holder: r.holder, Token: r.token, TTL: r.ttl, Seq: r.seq, Preempt: r.preempt})
	}
	return msgpack.Marshal(&s)
}

// Restore replaces the table with a snapshot, as applied at now: every
// grant it holds counts as just claimed or renewed, which is never
// earlier than the member that took the snapshot applied it.
func (t *Table) Restore(data []byte, now time.Time) error {
	var s snapshot
	// wire.Check first: msgpack would make each slice as long as it
	// declares, and twelve bytes could ask for gigabytes. A decoder of
	// its own: msgpack.Unmarshal's pooled decoder keeps a buffer grown by
	// every failed read of a long string, so corrupted snapshots would
	// make it hold ever more memory.
	if err := wire.Check(data); err != nil {
		return fmt.Errorf("leases: restore: %w", err)
	}
	if err := msgpack.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return fmt.Errorf("leases: restore: %w", err)
	}
	recs := make(map[string]*rec, len(s.Recs))
	for _, r := range s.Recs {
		if r.Token == 0 || r.Token > s.Last {
			return fmt.Errorf("leases: restore: key %q: token %d outside 1..%d", r.Key, r.Token, s.Last)
		}
		recs[r.Key] = &rec{holder: r.Holder, token: r.Token, ttl: r.TTL, seq: r.Seq, preempt: r.Preempt, at: now, preemptAt: now}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.founded, t.last, t.quiet, t.recs = s.Founded, s.Last, s.Quiet, recs
	return nil
}
