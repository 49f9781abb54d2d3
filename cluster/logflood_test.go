package cluster

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// recordLog is a slog handler that keeps every record, with the
// attributes of the logger it came through.
type recordLog struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]slog.Value
}

func newRecordLog() *recordLog { return &recordLog{mu: new(sync.Mutex), recs: new([]logRecord)} }

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, rec)
	return nil
}

func (h *recordLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recordLog{mu: h.mu, recs: h.recs, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *recordLog) WithGroup(string) slog.Handler { return h }

func (h *recordLog) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), *h.recs...)
}

// floodCount sums up the records that match: lines written one per event,
// and the events the summaries say were left out.
type floodCount struct{ lines, summaries, dropped int }

func countFlood(recs []logRecord, match func(logRecord) bool) floodCount {
	var c floodCount
	for _, r := range recs {
		if !match(r) {
			continue
		}
		if d, ok := r.attrs["dropped"]; ok && strings.Contains(r.msg, " more ") {
			c.summaries++
			c.dropped += int(d.Int64())
			continue
		}
		c.lines++
	}
	return c
}

// maxFloodLines is how many lines kinds of events may write over elapsed:
// per started interval and kind, logBurst lines and one summary.
func maxFloodLines(elapsed time.Duration, kinds int) int {
	return (int(elapsed/logInterval) + 1) * kinds * (logBurst + 1)
}

func newLoggedNode(t *testing.T, name string) (*Node, *recordLog) {
	t.Helper()
	h := newRecordLog()
	n, err := New(Config{Name: name, BindAddr: "127.0.0.1:0", SecretKey: testKey, Profile: Local, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, h
}

// 1,000 connections refused in the handshake write a bounded number of
// lines, and the summary accounts for every one of them.
func TestRefusedConnectionsLogBounded(t *testing.T) {
	const conns = 1000
	n, h := newLoggedNode(t, "flooded")
	payload, err := wire.Encode(wire.Hello{Name: "flood", Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := wire.Marshal(&wire.Frame{Kind: wire.KindHello, Body: payload})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range conns {
		c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{rpcMarker})
		wire.WriteFrame(c, body)
		io.Copy(io.Discard, c) // until the node refuses and closes
		c.Close()
	}
	waitFor(t, 10*time.Second, "every refusal counted", func() bool { return n.logs.rpcRefused.Load() == conns })
	elapsed := time.Since(start)
	n.Close() // writes the summary of the interval under way
	got := countFlood(h.records(), func(r logRecord) bool { return strings.Contains(r.msg, "rpc connection") })
	t.Logf("%d refusals in %v: %+v", conns, elapsed, got)
	if limit := maxFloodLines(elapsed, 1); got.lines+got.summaries > limit {
		t.Errorf("%d refused connections in %v wrote %d lines and %d summaries, want at most %d lines in all", conns, elapsed, got.lines, got.summaries, limit)
	}
	if got.summaries == 0 || got.lines+got.dropped != conns {
		t.Errorf("%d lines and %d summaries accounting for %d more, want the %d refusals accounted for", got.lines, got.summaries, got.dropped, conns)
	}
}

// 1,000 packets that are not gossip under the cluster's key make
// memberlist log an error each; the node writes a bounded number of them,
// and the summary accounts for the rest.
func TestBadGossipPacketsLogBounded(t *testing.T) {
	const packets = 1000
	n, h := newLoggedNode(t, "flooded")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	to, err := net.ResolveUDPAddr("udp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64)
	start := time.Now()
	// In batches, each waited for, so that the socket buffer never
	// overflows; a packet lost on the way anyway is sent again.
	for sent := 0; sent < packets; {
		batch := min(100, packets-sent)
		for range batch {
			rand.Read(junk)
			junk[0] = 1 // no label header: every packet fails to decrypt
			pc.WriteTo(junk, to)
		}
		sent += batch
		deadline := time.Now().Add(2 * time.Second)
		waitFor(t, 10*time.Second, "the batch logged", func() bool {
			return int(n.logs.gossipWarn.Load()) >= sent || time.Now().After(deadline)
		})
		sent = int(n.logs.gossipWarn.Load())
	}
	elapsed := time.Since(start)
	warned := int(n.logs.gossipWarn.Load())
	n.Close()
	got := countFlood(h.records(), func(r logRecord) bool {
		return r.attrs["component"].String() == "memberlist" && r.level >= slog.LevelWarn
	})
	t.Logf("%d warnings in %v: %+v", warned, elapsed, got)
	// One kind of error, and room for one other kind of warning.
	if limit := maxFloodLines(elapsed, 2); got.lines+got.summaries > limit {
		t.Errorf("%d bad packets in %v wrote %d lines and %d summaries, want at most %d lines in all", packets, elapsed, got.lines, got.summaries, limit)
		for _, r := range h.records() {
			if r.attrs["component"].String() == "memberlist" && r.level >= slog.LevelWarn {
				t.Logf("%v %s", r.level, r.msg)
			}
		}
	}
	if got.summaries == 0 || got.lines+got.dropped < warned {
		t.Errorf("%d lines and %d summaries accounting for %d more, want the %d warnings accounted for", got.lines, got.summaries, got.dropped, warned)
	}
}

// The limiter writes the first logBurst records of each kind per
// interval and one summary per kind at the interval's end, on its own
// timer; close writes the summary of the interval under way.
func TestLogLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type summary struct {
			kind    string
			dropped int
			d       time.Duration
		}
		var mu sync.Mutex
		var sums []summary
		l := newLogLimiter(func(kind string, dropped int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			sums = append(sums, summary{kind, dropped, d})
		})
		written := map[string]int{}
		// 1,000 records of kind a and 50 of kind b over 35 s: four
		// intervals, the last one cut short by close.
		for i := range 1000 {
			if l.allow("a") {
				written["a"]++
			}
			if i%20 == 0 && l.allow("b") {
				written["b"]++
			}
			time.Sleep(35 * time.Millisecond)
		}
		l.close()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []summary{
			{"a", 286 - logBurst, 10 * time.Second}, {"b", 15 - logBurst, 10 * time.Second},
			{"a", 286 - logBurst, 10 * time.Second}, {"b", 14 - logBurst, 10 * time.Second},
			{"a", 286 - logBurst, 10 * time.Second}, {"b", 14 - logBurst, 10 * time.Second},
			{"a", 142 - logBurst, 5 * time.Second}, {"b", 7 - logBurst, 5 * time.Second},
		}
		if got := written["a"] + written["b"]; got != 8*logBurst {
			t.Errorf("%d records written, want %d (%d per kind and interval)", got, 8*logBurst, logBurst)
		}
		total := map[string]int{}
		for _, s := range sums {
			total[s.kind] += s.dropped
		}
		if total["a"]+written["a"] != 1000 || total["b"]+written["b"] != 50 {
			t.Errorf("written %v and summarized %v, want 1000 a and 50 b accounted for", written, total)
		}
		if len(sums) != len(want) {
			t.Fatalf("summaries %v, want %v", sums, want)
		}
		for i := range want {
			if sums[i] != want[i] {
				t.Errorf("summary %d = %+v, want %+v", i, sums[i], want[i])
			}
		}
	})
}

func TestMessageKind(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"decrypt", "memberlist: Decrypt packet failed: Unsupported encryption version 7 from=127.0.0.1:5000", "Decrypt packet failed"},
		{"stream", "memberlist: failed to receive: No installed keys could decrypt the message from=127.0.0.1:5001", "failed to receive"},
		{"number", "memberlist: Received invalid msgType (77) from=127.0.0.1:5002", "Received invalid msgType"},
		{"quoted", "memberlist: discarding packet with unacceptable label \"x\": from=127.0.0.1:5003", "discarding packet with unacceptable label"},
		{"no component", "Failed to shutdown transport: closed", "Failed to shutdown transport"},
		{"serf", "serf: Event queue depth: 2000", "Event queue depth"},
		{"long", "memberlist: " + strings.Repeat("x", 100), strings.Repeat("x", 48)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := messageKind([]byte(tt.line)); got != tt.want {
				t.Errorf("messageKind(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}
