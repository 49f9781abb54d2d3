package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// dgramSink records the notifications of method "dg" that a node
// serves, by how they came.
type dgramSink struct {
	mu      sync.Mutex
	byDgram []int
	bySteam int
	from    map[string]bool
}

func (s *dgramSink) register(n *Node) {
	n.HandleNoticeInline("dg", func(_ context.Context, r *Request) (any, error) {
		var req seqReq
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.from == nil {
			s.from = map[string]bool{}
		}
		s.from[r.From] = true
		if r.Datagram() {
			s.byDgram = append(s.byDgram, req.N)
		} else {
			s.bySteam++
		}
		return nil, nil
	})
}

func (s *dgramSink) datagrams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byDgram)
}

// NotifyDatagram needs an open connection, reaches the peer's inline
// handler with Request.Datagram set and the sender's name, refuses a
// notification over MaxDatagram, and Lossy tells, on both ends, when
// datagrams went missing.
func TestNotifyDatagram(t *testing.T) {
	for _, key := range [][]byte{testKey, nil} {
		t.Run(fmt.Sprintf("key=%v", key != nil), func(t *testing.T) {
			a, b := rpcPair(t, key)
			var sa, sb dgramSink
			sa.register(a)
			sb.register(b)
			a.dropConns(b.Name())
			b.dropConns(a.Name())
			if a.NotifyDatagram(b.Name(), "dg", seqReq{0}) {
				t.Fatal("NotifyDatagram sent without an open connection")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Notify(ctx, b.Name(), "dg", seqReq{0}); err != nil { // dials
				t.Fatal(err)
			}
			const n = 20
			for i := 1; i <= n; i++ {
				if !a.NotifyDatagram(b.Name(), "dg", seqReq{i}) {
					t.Fatalf("datagram %d not sent", i)
				}
			}
			waitFor(t, 10*time.Second, "the datagrams", func() bool { return sb.datagrams() == n })
			sb.mu.Lock()
			if !sb.from[a.Name()] || len(sb.from) != 1 {
				t.Errorf("served as from %v, want only %s", sb.from, a.Name())
			}
			sb.mu.Unlock()
			if a.NotifyDatagram(b.Name(), "dg", strings.Repeat("x", MaxDatagram)) {
				t.Error("a datagram over MaxDatagram was sent")
			}
			if a.Lossy(b.Name()) || b.Lossy(a.Name()) {
				t.Fatal("Lossy before any datagram went missing")
			}
			// Three of a's datagrams go missing: b sees it, and tells a
			// with its next datagram.
			c := a.rpc.conns[b.Name()]
			c.dg.sendSeq.Add(3)
			a.NotifyDatagram(b.Name(), "dg", seqReq{n + 1})
			waitFor(t, 10*time.Second, "b to see the loss", func() bool { return b.Lossy(a.Name()) })
			if !b.NotifyDatagram(a.Name(), "dg", seqReq{1}) {
				t.Fatal("b's datagram not sent")
			}
			waitFor(t, 10*time.Second, "a to hear of the loss", func() bool { return a.Lossy(b.Name()) })
		})
	}
}

// A datagram that is replayed, altered, of an unknown session or for a
// method not served inline is refused or dropped, and the node serves
// on.
func TestDatagramRefused(t *testing.T) {
	for _, key := range [][]byte{testKey, nil} {
		t.Run(fmt.Sprintf("key=%v", key != nil), func(t *testing.T) {
			a, b := rpcPair(t, key)
			var sb dgramSink
			sb.register(b)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Notify(ctx, b.Name(), "dg", seqReq{0}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "b's end of the connection", func() bool {
				b.rpc.mu.Lock()
				defer b.rpc.mu.Unlock()
				return len(b.rpc.bySession) > 0
			})
			c := a.rpc.conns[b.Name()]
			frame := func(method string, n int) []byte {
				payload, _ := wire.Encode(seqReq{n})
				body, err := wire.Marshal(&wire.Frame{Kind: wire.KindRequest, Method: method, Body: payload})
				if err != nil {
					t.Fatal(err)
				}
				return body
			}
			good := c.dg.seal(c.dg.sendSeq.Add(1), frame("dg", 1))
			if err := b.onDatagram(good); err != nil {
				t.Fatalf("a sealed datagram refused: %v", err)
			}
			if err := b.onDatagram(good); err != nil {
				t.Fatalf("a replay: %v, want dropped silently", err)
			}
			if got := sb.datagrams(); got != 1 {
				t.Fatalf("served %d datagrams, want 1 (the replay dropped)", got)
			}
			altered := c.dg.seal(c.dg.sendSeq.Add(1), frame("dg", 2))
			altered[len(altered)-1] ^= 1
			otherSession := c.dg.seal(c.dg.sendSeq.Add(1), frame("dg", 3))
			otherSession[1] ^= 1
			for name, pkt := range map[string][]byte{
				"short":         good[:dgramHeader-1],
				"other session": otherSession,
				"not inline":    c.dg.seal(c.dg.sendSeq.Add(1), frame("echo", 4)),
				"garbage frame": c.dg.seal(c.dg.sendSeq.Add(1), []byte{0xc1, 0xc1}),
			} {
				if err := b.onDatagram(pkt); err == nil {
					t.Errorf("%s: accepted", name)
				}
			}
			if err := b.onDatagram(altered); key != nil && err == nil {
				t.Error("an altered datagram passed authentication")
			}
			if got := sb.datagrams(); got != 1 && (key != nil || got != 2) {
				t.Errorf("served %d datagrams after the bad ones", got)
			}
			var got echoResp
			if err := a.Call(ctx, b.Name(), "echo", echoReq{"alive"}, &got); err != nil || got.Text != "alive" {
				t.Fatalf("b stopped serving: %+v, %v", got, err)
			}
		})
	}
}

// The receive window drops duplicates and what is older than it, and
// measures the share of sequence numbers missing.
func TestDatagramWindow(t *testing.T) {
	var d dgram
	for _, seq := range []uint64{5, 6, 8} {
		if !d.accept(seq, 0) {
			t.Fatalf("seq %d refused", seq)
		}
	}
	if d.accept(6, 0) || d.accept(0, 0) || d.accept(4, 0) {
		t.Error("a duplicate, zero or a sequence before the first accepted")
	}
	if !d.lossy() || d.lossReport() != 25 { // 7 of 5..8 missing
		t.Errorf("loss %d%%, want 25", d.lossReport())
	}
	if !d.accept(7, 0) || d.lossy() {
		t.Errorf("late 7: loss %d%%, want 0", d.lossReport())
	}
	if !d.accept(8+lossWindow, 0) || d.accept(8, 0) {
		t.Error("window did not move past 8")
	}
	for seq := uint64(9 + lossWindow); seq < 8+2*lossWindow; seq++ {
		d.accept(seq, 0)
	}
	if d.lossy() {
		t.Errorf("a full window without a gap: loss %d%%", d.lossReport())
	}
	if d.accept(8+2*lossWindow, 3); !d.lossy() {
		t.Error("the peer's report of loss not counted")
	}
}
