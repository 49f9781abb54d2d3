package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		lim     Limits
		wantErr string // substring naming the field; "" = valid
	}{
		{"zero value", Limits{}, ""},
		{"all set", Limits{GossipStreamBytes: 1 << 20, GossipBytes: 4 << 20, GossipStreams: 4, GossipStreamsPerIP: 2, PreAuthConns: 10, PreAuthConnsPerIP: 10}, ""},
		{"total streams below the per-source default", Limits{GossipStreams: 8}, ""},
		{"total pre-auth below the per-source default", Limits{PreAuthConns: 32}, ""},
		{"stream bytes above half the default budget", Limits{GossipStreamBytes: 16 << 20}, ""},
		{"negative stream bytes", Limits{GossipStreamBytes: -1}, "Limits.GossipStreamBytes"},
		{"tiny stream bytes", Limits{GossipStreamBytes: 1000}, "Limits.GossipStreamBytes"},
		{"stream bytes over memberlist's", Limits{GossipStreamBytes: 21 << 20}, "Limits.GossipStreamBytes"},
		{"negative gossip bytes", Limits{GossipBytes: -1}, "Limits.GossipBytes"},
		{"gossip bytes below two default streams", Limits{GossipBytes: 6 << 20}, "Limits.GossipBytes"},
		{"gossip bytes below two streams", Limits{GossipStreamBytes: 1 << 20, GossipBytes: 1 << 20}, "Limits.GossipBytes"},
		{"negative streams", Limits{GossipStreams: -1}, "Limits.GossipStreams"},
		{"per-IP streams above the default total", Limits{GossipStreamsPerIP: defaultGossipStreams + 1}, "Limits.GossipStreamsPerIP"},
		{"per-IP streams above the total", Limits{GossipStreams: 4, GossipStreamsPerIP: 5}, "Limits.GossipStreamsPerIP"},
		{"negative pre-auth", Limits{PreAuthConns: -3}, "Limits.PreAuthConns"},
		{"negative pre-auth per IP", Limits{PreAuthConnsPerIP: -3}, "Limits.PreAuthConnsPerIP"},
		{"per-IP pre-auth above the total", Limits{PreAuthConns: 10, PreAuthConnsPerIP: 11}, "Limits.PreAuthConnsPerIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Config{Limits: tt.lim}).Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr+" "):
				t.Fatalf("Validate() = %q, want it to name %s", err, tt.wantErr)
			}
		})
	}
}

// fakeConn is a connection from addr that records Close; nothing else of
// it is used.
type fakeConn struct {
	net.Conn
	addr   net.Addr
	closed atomic.Bool
}

func (f *fakeConn) RemoteAddr() net.Addr { return f.addr }
func (f *fakeConn) Close() error         { f.closed.Store(true); return nil }

func connFrom(ip string) *fakeConn {
	return &fakeConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

func TestSourceOf(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, "10.1.2.3/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 1}, "10.1.2.3/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.UDPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, "10.1.2.3/32"},
		{&net.UnixAddr{Name: "pipe"}, "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := sourceOf(tt.addr).String(); got != tt.want {
			t.Errorf("sourceOf(%v) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// Connections before authentication: a source past its own limit is
// refused; at the total limit, a newcomer from a source holding at least
// two fewer than the largest takes the place of that source's oldest.
func TestLimiterPreAuth(t *testing.T) {
	l := newLimiter(Limits{PreAuthConns: 4, PreAuthConnsPerIP: 3}, true, discardLogger)
	admit := func(c *fakeConn) *ticket {
		t.Helper()
		tk, ok := l.admit(c)
		if !ok {
			t.Fatalf("admit(%v) refused, want admitted", c.addr)
		}
		return tk
	}
	refuse := func(c *fakeConn, want refusal) {
		t.Helper()
		before := l.refused[want].Load()
		if _, ok := l.admit(c); ok {
			t.Fatalf("admit(%v) admitted, want refused (%v)", c.addr, want)
		}
		if l.refused[want].Load() != before+1 {
			t.Fatalf("admit(%v) refused, but not for %q", c.addr, want)
		}
	}
	a := []*fakeConn{connFrom("10.0.0.1"), connFrom("10.0.0.1"), connFrom("10.0.0.1")}
	ta := []*ticket{admit(a[0]), admit(a[1]), admit(a[2])}
	refuse(connFrom("10.0.0.1"), refusedPreAuthIP)
	tb := admit(connFrom("10.0.0.2")) // the total is reached
	c3, c4, c5 := connFrom("10.0.0.3"), connFrom("10.0.0.4"), connFrom("10.0.0.5")
	admit(c3) // in place of a[0], the oldest of the largest source
	if !a[0].closed.Load() || a[1].closed.Load() {
		t.Fatalf("closed: a[0] %v, a[1] %v; want the oldest only", a[0].closed.Load(), a[1].closed.Load())
	}
	admit(c4) // in place of a[1]: 10.0.0.1 still holds 2
	refuse(c5, refusedPreAuth)
	if got := l.refused[refusedEvicted].Load(); got != 2 {
		t.Errorf("evicted %d, want 2", got)
	}
	l.done(ta[0]) // evicted: its place is no longer its own
	refuse(c5, refusedPreAuth)
	l.done(tb)
	admit(c5)
	l.done(ta[2])
	if l.nPreAuth != 3 {
		t.Errorf("%d connections counted, want 3", l.nPreAuth)
	}
	l.closeAll()
	for i, c := range []*fakeConn{c3, c4, c5} {
		if !c.closed.Load() {
			t.Errorf("closeAll left pre-authentication connection %d open", i)
		}
	}
	if a[2].closed.Load() {
		t.Errorf("closeAll closed a connection that had left the pre-authentication phase")
	}
	if _, ok := l.admit(connFrom("10.0.0.6")); ok {
		t.Errorf("admit after closeAll = true, want false")
	}
}

// gossipHeader is an encrypted gossip stream header declaring size bytes.
func gossipHeader(size uint32) []byte {
	h := make([]byte, gossipHeaderLen)
	h[0] = gossipEncryptMsg
	binary.BigEndian.PutUint32(h[1:], size)
	return h
}

func TestLimiterGossipHeader(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name  string
		keyed bool
		bytes []byte
		want  refusal // -1: admitted; numRefusals: closed without a refusal
	}{
		{"small encrypted stream", true, gossipHeader(1000), -1},
		{"at the limit", true, gossipHeader(limit), -1},
		{"over the limit", true, gossipHeader(limit + 1), refusedGossipLength},
		{"20 MiB", true, gossipHeader(20 << 20), refusedGossipLength},
		{"plaintext push-pull", true, []byte{6, 0x83, 0, 0, 0}, refusedGossipType},
		{"label header", true, []byte{244, 1, 'x', 10, 0}, refusedGossipType},
		{"truncated header", true, gossipHeader(1000)[:3], numRefusals},
		{"plaintext, no key", false, []byte{6}, -1},
		{"over the limit, no key", false, gossipHeader(limit + 1), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(Limits{GossipStreamBytes: limit}, tt.keyed, discardLogger)
			c := connFrom("10.0.0.1")
			br := bufio.NewReaderSize(bytes.NewReader(tt.bytes), 16)
			gc, ok := l.gossipStream(&ticket{c: c, src: sourceOf(c.addr)}, c, br)
			var refused []refusal
			for r := range numRefusals {
				if l.refused[r].Load() > 0 {
					refused = append(refused, r)
				}
			}
			switch {
			case tt.want < 0 && !ok:
				t.Fatalf("refused (%v), want admitted", refused)
			case tt.want >= 0 && ok:
				t.Fatalf("admitted, want refused")
			case tt.want == numRefusals && len(refused) > 0:
				t.Fatalf("counted as %v, want closed without a refusal", refused)
			case tt.want >= 0 && tt.want < numRefusals && (len(refused) != 1 || refused[0] != tt.want):
				t.Fatalf("refused for %v, want %q", refused, tt.want)
			}
			if ok {
				gc.Close()
				if l.inGossip != (gossipUse{}) {
					t.Errorf("after Close the limiter holds %+v, want nothing", l.inGossip)
				}
			}
		})
	}
}

// Gossip streams in total, per source, and the bytes they declare.
func TestLimiterGossipShares(t *testing.T) {
	const mib = 1 << 20
	l := newLimiter(Limits{GossipStreamBytes: 2 * mib, GossipBytes: 6 * mib, GossipStreams: 4, GossipStreamsPerIP: 2}, true, discardLogger)
	open := func(ip string, size uint32) (net.Conn, refusal) {
		c := connFrom(ip)
		var before [numRefusals]uint64
		for r := range numRefusals {
			before[r] = l.refused[r].Load()
		}
		gc, ok := l.gossipStream(&ticket{c: c, src: sourceOf(c.addr)}, c, bufio.NewReader(bytes.NewReader(gossipHeader(size))))
		if ok {
			return gc, -1
		}
		for r := range numRefusals {
			if l.refused[r].Load() > before[r] {
				return nil, r
			}
		}
		return nil, numRefusals
	}
	steps := []struct {
		ip   string
		size uint32
		want refusal
	}{
		{"10.0.0.1", 2 * mib, -1},
		{"10.0.0.1", 2 * mib, refusedGossipBytes}, // past half of GossipBytes for one source
		{"10.0.0.1", 1 * mib, -1},
		{"10.0.0.1", 1, refusedGossipIP},
		{"10.0.0.2", 2 * mib, -1},
		{"10.0.0.3", 2 * mib, refusedGossipBytes}, // past GossipBytes
		{"10.0.0.3", 1, -1},                       // small streams do not count in GossipBytes
		{"10.0.0.4", 1, refusedGossip},
	}
	var conns []net.Conn
	for i, s := range steps {
		c, got := open(s.ip, s.size)
		if got != s.want {
			t.Fatalf("step %d: %s declaring %d: got %v, want %v", i, s.ip, s.size, got, s.want)
		}
		if c != nil {
			conns = append(conns, c)
		}
	}
	conns[0].Close()
	conns[0].Close() // a second Close gives nothing back
	if c, got := open("10.0.0.4", 2*mib); got >= 0 {
		t.Fatalf("after a Close: %v, want admitted", got)
	} else {
		conns = append(conns, c)
	}
	for _, c := range conns[1:] {
		c.Close()
	}
	if l.inGossip != (gossipUse{}) || len(l.gossip) != 0 {
		t.Errorf("after closing all, the limiter holds %+v and %v, want nothing", l.inGossip, l.gossip)
	}
}

// A flood of refusals writes a few lines per reason and then, at Close,
// one that says how many more there were.
func TestLimiterLogsRefusalsRateLimited(t *testing.T) {
	var lines []slog.Record
	l := newLimiter(Limits{}, true, slog.New(recordHandler{&lines}))
	src := netip.MustParsePrefix("10.0.0.1/32")
	for range 1000 {
		l.refuse(refusedGossipLength, src)
	}
	l.refuse(refusedGossipType, src)
	if got, want := len(lines), logBurst+1; got != want {
		t.Fatalf("%d log lines for 1001 refusals of two reasons, want %d", got, want)
	}
	l.closeAll()
	if got, want := len(lines), logBurst+2; got != want {
		t.Fatalf("%d log lines after closeAll, want %d (one summary)", got, want)
	}
	if last := lines[len(lines)-1].Message; !strings.HasPrefix(last, fmt.Sprint(1000-logBurst, " more")) {
		t.Errorf("summary %q, want it to count the %d refusals not logged", last, 1000-logBurst)
	}
	if got := l.refused[refusedGossipLength].Load(); got != 1000 {
		t.Errorf("counted %d, want 1000", got)
	}
}

type recordHandler struct{ out *[]slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	*h.out = append(*h.out, r)
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// deadlineConn records the deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time // read, write or both, in order
}

func (d *deadlineConn) record(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = append(d.set, t)
}

func (d *deadlineConn) SetDeadline(t time.Time) error { d.record(t); return d.Conn.SetDeadline(t) }
func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.record(t)
	return d.Conn.SetReadDeadline(t)
}
func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.record(t)
	return d.Conn.SetWriteDeadline(t)
}

// One deadline, set at accept, bounds an inbound RPC connection until its
// handshake ends; then the connection has none. On the code before, the
// first byte had a deadline of its own and acceptRPC set another 5 s for
// the handshake, so a peer could hold a connection for 10 s.
func TestOneDeadlineFromAcceptToHandshakeEnd(t *testing.T) {
	n := newTestNode(t, "n", testKey)
	p := newTestNode(t, "p", testKey)
	client, server := net.Pipe()
	defer client.Close()
	dc := &deadlineConn{Conn: server}
	tk, ok := n.tr.lim.admit(dc)
	if !ok {
		t.Fatal("admit refused the connection")
	}
	dialed := make(chan error, 1)
	go func() {
		if _, err := client.Write([]byte{rpcMarker}); err != nil {
			dialed <- err
			return
		}
		_, _, err := p.hs.dial(client)
		dialed <- err
	}()
	n.tr.classify(dc, tk) // returns when the handshake has ended
	n.tr.lim.done(tk)
	if err := <-dialed; err != nil {
		t.Fatalf("handshake: %v", err)
	}
	dc.mu.Lock()
	got := slices.Clone(dc.set)
	dc.mu.Unlock()
	if want := []time.Time{tk.deadline, {}}; len(got) < 2 || !slices.Equal(got[:2], want) {
		t.Fatalf("deadlines set = %v, want %v (one at accept, none once authenticated)", got, want)
	}
	if d := time.Until(tk.deadline); d <= 0 || d > handshakeTimeout {
		t.Errorf("deadline %v from now, want within %v of accept", d, handshakeTimeout)
	}
}

// Close closes the connections still before authentication at once,
// instead of waiting for their deadline (5 s after accept).
func TestCloseClosesUnauthenticatedConns(t *testing.T) {
	hello := frameBytes(t, &wire.Frame{Kind: wire.KindHello, Body: mustEncode(t, wire.Hello{Name: "mute", Addr: "127.0.0.1:1", Auth: true, Nonce: make([]byte, nonceSize)})})
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"nothing", nil},
		{"the rpc marker", []byte{rpcMarker}},
		{"the rpc marker and a hello", append([]byte{rpcMarker}, hello...)}, // in the handshake, waiting for the proof
		{"part of a gossip header", []byte{gossipEncryptMsg, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNode(t, "n", testKey)
			var conns []net.Conn
			for range 3 {
				c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write(tt.bytes); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			waitFor(t, 5*time.Second, "3 connections before authentication", func() bool {
				n.tr.lim.mu.Lock()
				defer n.tr.lim.mu.Unlock()
				return n.tr.lim.nPreAuth == 3
			})
			start := time.Now()
			n.Close()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Close took %v, want well under the %v deadline", d, handshakeTimeout)
			}
			for i, c := range conns {
				c.SetReadDeadline(time.Now().Add(time.Second))
				// What the node answered (a hello-ack), then the end.
				if _, err := io.Copy(io.Discard, c); isTimeout(err) {
					t.Errorf("connection %d: Read after Close = %v, want it closed", i, err)
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
