package cluster

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// transport is memberlist's Transport over a Network. Packets and streams
// share one address; inbound streams that start with rpcMarker go to the
// RPC side, all others to memberlist.
type transport struct {
	ln        net.Listener
	pc        net.PacketConn
	nw        Network
	advertise netip.AddrPort
	// onRPC serves an inbound RPC stream; runs on its own goroutine. It
	// calls authenticated once the handshake succeeded, before the
	// connection is served, and drops the connection if that reports false.
	onRPC func(c net.Conn, authenticated func() bool)
	log   func(msg string, args ...any)
	lim   *limiter // bounds inbound connections before authentication (limits.go)

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // the loops and stream classifiers
}

var _ memberlist.Transport = (*transport)(nil)

func newTransport(nw Network, ln net.Listener, pc net.PacketConn, advertise netip.AddrPort) *transport {
	return &transport{
		ln: ln, pc: pc, nw: nw, advertise: advertise,
		packetCh: make(chan *memberlist.Packet, 256),
		streamCh: make(chan net.Conn, 16),
		stop:     make(chan struct{}),
	}
}

// start runs the packet and accept loops, the transport's only readers of
// the network; onRPC must be set before. New calls it last, once the node
// is whole: until then, packets wait in the socket buffer and streams in
// the listen backlog, and Shutdown works without it.
func (t *transport) start() {
	t.wg.Add(2)
	go t.packetLoop()
	go t.acceptLoop()
}

// FinalAdvertiseAddr returns the address worked out by New.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IP(t.advertise.Addr().AsSlice()), int(t.advertise.Port()), nil
}

// WriteTo sends one packet; it never blocks on the receiver.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return time.Time{}, errtext.Errorf("cluster: ", "cluster: packet address %q: %w", addr, err)
	}
	_, err = t.pc.WriteTo(b, net.UDPAddrFromAddrPort(ap))
	return time.Now(), err
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a gossip stream.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.nw.Dial(ctx, addr)
}

// Shutdown closes the endpoints and waits for the loops. Idempotent.
func (t *transport) Shutdown() error {
	t.stopOnce.Do(func() {
		close(t.stop)
		t.ln.Close()
		t.pc.Close()
		t.lim.closeAll()
	})
	t.wg.Wait()
	return nil
}

func (t *transport) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

func (t *transport) packetLoop() {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := t.pc.ReadFrom(buf)
		if err != nil {
			if t.stopped() {
				return
			}
			t.log("packet read failed", "err", err)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 1 {
			continue
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: time.Now()}
		select {
		case t.packetCh <- p:
		case <-t.stop:
			return
		}
	}
}

func (t *transport) acceptLoop() {
	defer t.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log("stream accept failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-t.stop:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		tk, ok := t.lim.admit(c)
		if !ok {
			c.Close()
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.lim.done(tk)
			t.classify(c, tk)
		}()
	}
}

// classify reads a stream's first byte and hands it to RPC or memberlist.
// One deadline, set at accept, bounds both the wait for the first bytes and
// the RPC handshake; a gossip stream is checked and counted by the limiter
// (limits.go) before memberlist, which sets its own deadline, sees it.
func (t *transport) classify(c net.Conn, tk *ticket) {
	c.SetDeadline(tk.deadline)
	br := bufio.NewReaderSize(c, 16)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	if first[0] == rpcMarker {
		br.Discard(1)
		t.onRPC(&peekedConn{Conn: c, r: br}, func() bool { return t.lim.handOn(tk) })
		return
	}
	gc, ok := t.lim.gossipStream(tk, c, br)
	if !ok {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	if !t.lim.handOn(tk) {
		gc.Close()
		return
	}
	select {
	case t.streamCh <- gc:
	case <-t.stop:
		gc.Close()
	}
}

// peekedConn is a stream whose first bytes were buffered by classify.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
