package raftgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

type nopTransport struct{}

func (nopTransport) Send([]*raftpb.Message) {}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{ID: 1, Voters: []uint64{1, 2, 3}, Transport: nopTransport{}, StateMachine: &logSM{}}
	}
	tests := []struct {
		name  string
		tune  func(*Config)
		field string // in the error; "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"joining", func(c *Config) { c.Voters = nil }, ""},
		{"zero ID", func(c *Config) { c.ID = 0 }, "ID"},
		{"reserved ID", func(c *Config) { c.ID = ^uint64(0) }, "ID"},
		{"voters without ID", func(c *Config) { c.Voters = []uint64{2, 3} }, "Voters"},
		{"voter 0", func(c *Config) { c.Voters = []uint64{0, 1} }, "Voters"},
		{"duplicate voter", func(c *Config) { c.Voters = []uint64{1, 2, 2} }, "Voters"},
		{"negative tick", func(c *Config) { c.TickInterval = -time.Millisecond }, "TickInterval"},
		{"election not above heartbeat", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 3, 3 }, "ElectionTick"},
		{"negative election tick", func(c *Config) { c.ElectionTick = -1 }, "ElectionTick"},
		{"no transport", func(c *Config) { c.Transport = nil }, "Transport"},
		{"no state machine", func(c *Config) { c.StateMachine = nil }, "StateMachine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.tune(&c)
			err := c.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.field != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field)):
				t.Errorf("Validate: %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
			if tt.field != "" {
				if g, err := Start(c); err == nil {
					g.Close()
					t.Errorf("Start accepted the config")
				}
			}
		})
	}
}

// TestClose: Close is idempotent, waits for the loop, and every call
// after it returns ErrClosed.
func TestClose(t *testing.T) {
	bubble(t, func(t *testing.T) {
		g, err := Start(Config{ID: 1, Voters: []uint64{1}, Transport: nopTransport{}, StateMachine: &logSM{}})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "a single voter to lead", func() bool {
			st, _ := g.Status()
			return st.Leader == 1
		})
		propose(t, g, "x")
		if err := g.Close(); err != nil {
			t.Errorf("first Close: %v", err)
		}
		select {
		case <-g.Done():
		default:
			t.Errorf("Done not closed after Close")
		}
		ctx := context.Background()
		checks := map[string]error{"second Close": g.Close(), "Err": g.Err()}
		_, _, checks["Propose"] = g.Propose(ctx, []byte("y"))
		checks["ProposeConfChange"] = g.ProposeConfChange(ctx, &raftpb.ConfChangeV2{})
		checks["TransferLeadership"] = g.TransferLeadership(ctx, 1)
		_, checks["Status"] = g.Status()
		checks["Step"] = g.Step(ctx, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(1)), From: new(uint64(2))})
		for name, err := range checks {
			want := ErrClosed
			if name == "Err" {
				want = nil
			}
			if !errors.Is(err, want) {
				t.Errorf("%s after Close: %v, want %v", name, err, want)
			}
		}
		if _, open := <-g.Follow(ctx); open {
			t.Errorf("Follow after Close: channel open")
		}
	})
}

// TestStepBadMessage: Step refuses what would make raft panic or that
// is not for this member.
func TestStepBadMessage(t *testing.T) {
	bubble(t, func(t *testing.T) {
		g, err := Start(Config{ID: 1, Voters: []uint64{1, 2, 3}, Transport: nopTransport{}, StateMachine: &logSM{}})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		msg := func(typ raftpb.MessageType, to, from uint64, ents ...*raftpb.Entry) *raftpb.Message {
			return &raftpb.Message{Type: typ.Enum(), To: new(to), From: new(from), Entries: ents}
		}
		tests := []struct {
			name string
			m    *raftpb.Message
		}{
			{"nil", nil},
			{"other addressee", msg(raftpb.MsgHeartbeat, 2, 3)},
			{"from 0", msg(raftpb.MsgHeartbeat, 1, 0)},
			{"from itself", msg(raftpb.MsgHeartbeat, 1, 1)},
			{"local type", msg(raftpb.MsgHup, 1, 2)},
			{"empty proposal", msg(raftpb.MsgProp, 1, 2)},
			{"proposed conf change", msg(raftpb.MsgProp, 1, 2, &raftpb.Entry{Type: raftpb.EntryConfChangeV2.Enum(), Data: []byte{0xff}})},
			{"snapshot without metadata", msg(raftpb.MsgSnap, 1, 2)},
		}
		for _, tt := range tests {
			if err := g.Step(context.Background(), tt.m); !errors.Is(err, ErrBadMessage) {
				t.Errorf("%s: Step = %v, want ErrBadMessage", tt.name, err)
			}
		}
		if err := g.Step(context.Background(), msg(raftpb.MsgHeartbeat, 1, 2)); err != nil {
			t.Errorf("good message: Step = %v", err)
		}
	})
}

// TestUnknownOutcome: a follower whose proposal was applied while the
// leader could not reach it, and compacted away, gets ErrUnknownOutcome
// when it installs the snapshot, and the entry is applied once.
func TestUnknownOutcome(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.KeepEntries = 20, 5 })
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		f := lead%3 + 1
		c.net.mu.Lock()
		c.net.cut[[2]uint64{lead, f}] = true // f still reaches the leader
		c.net.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, _, err := c.groups[f].Propose(context.Background(), []byte("from-f"))
			done <- err
		}()
		waitFor(t, time.Second, "the proposal applied on the leader", func() bool {
			log := c.sms[lead].log()
			return len(log) > 0 && log[0].Data == "from-f"
		})
		for i := range 50 {
			propose(t, c.groups[lead], fmt.Sprint("more-", i))
		}
		c.net.heal()
		if err := <-done; !errors.Is(err, ErrUnknownOutcome) {
			t.Errorf("Propose on the cut-off follower: %v, want ErrUnknownOutcome", err)
		}
		if c.sms[f].restores.Load() == 0 {
			t.Errorf("the follower caught up without a snapshot")
		}
		if log := c.waitConverged(time.Second); len(log) != 51 || log[0].Data != "from-f" {
			t.Errorf("applied %d entries starting with %v, want 51 starting with from-f", len(log), log[0])
		}
	})
}

func TestHeaderCodec(t *testing.T) {
	for _, h := range []header{{kindData, 1, 1}, {kindFence, 1 << 60, 7}, {kindConf, 9, 1 << 62}} {
		data := h.append(nil)
		got, payload, ok := decodeHeader(append(data, "payload"...))
		if !ok || got != h || string(payload) != "payload" {
			t.Errorf("decodeHeader(%+v encoded) = %+v, %q, %v", h, got, payload, ok)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 1, 1}, {1, 9, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 0}, {1, 1, 0x80}} {
		if h, _, ok := decodeHeader(bad); ok {
			t.Errorf("decodeHeader(%v) = %+v, want not ok", bad, h)
		}
	}
}

func TestSnapshotCodec(t *testing.T) {
	table := map[uint64]uint64{1: 5, 1 << 40: 1 << 50}
	gotTable, state, err := decodeSnapshot(encodeSnapshot(table, []byte("state")))
	if err != nil || !maps.Equal(gotTable, table) || string(state) != "state" {
		t.Errorf("round trip: %v, %q, %v", gotTable, state, err)
	}
	for _, bad := range [][]byte{nil, {2, 0}, {1, 5, 1}, {1, 1, 0x80}} {
		if _, _, err := decodeSnapshot(bad); !errors.Is(err, errBadSnapshot) {
			t.Errorf("decodeSnapshot(%v): %v, want errBadSnapshot", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(header{kindData, 3, 4}.append([]byte(nil)))
	f.Add(encodeSnapshot(map[uint64]uint64{1: 2}, []byte("s")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, payload, ok := decodeHeader(data); ok {
			h2, p2, ok := decodeHeader(append(h.append(nil), payload...))
			if !ok || h2 != h || !bytes.Equal(p2, payload) {
				t.Errorf("re-encoded %+v, %q decodes to %+v, %q, %v", h, payload, h2, p2, ok)
			}
		}
		if table, state, err := decodeSnapshot(data); err == nil {
			t2, s2, err := decodeSnapshot(encodeSnapshot(table, state))
			if err != nil || !maps.Equal(t2, table) || !bytes.Equal(s2, state) {
				t.Errorf("re-encoded snapshot differs: %v %q %v", t2, s2, err)
			}
		}
	})
}
