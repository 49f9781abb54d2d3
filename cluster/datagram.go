package cluster

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// Datagrams: a second, best-effort path for small notifications, beside
// a connection.
//
// A stream on a lossy link delivers every byte, but a lost segment holds
// back everything behind it until TCP sends it again, and a lone small
// segment (an RPC on a quiet stream) waits for the retransmission
// timeout: 200 ms at least. A method that tolerates loss, duplicates and
// reordering (Raft's messages do) can send a copy as a datagram on the
// node's gossip address too (NotifyDatagram); whichever arrives first
// counts. A datagram belongs to one connection's session: it names the
// session by an id both ends derive from the handshake's nonces, and in
// a keyed cluster it is sealed under keys derived from the secret key and
// those nonces, so it is valid only while that connection lives, from the
// peer at its other end, and is refused by anyone else. A sequence number
// (the AEAD nonce) lets the receiver drop replays and duplicates (a
// window of 64) and measure how many datagrams the link loses; each
// datagram carries that measure back to its sender, so both ends know
// whether the link loses packets either way (Lossy).
//
// On the wire: marker (1 byte), session id (8), sequence (8), the loss
// the sender sees from the receiver in percent (1), then the frame
// (sealed with the header as associated data in a keyed cluster).
const (
	// dgramMarker starts a datagram. memberlist's packets start with a
	// message type (below 32), an encryption version (0, 1) or its label
	// marker (244), so the transport tells them apart by the first byte.
	dgramMarker = 0xF7
	dgramHeader = 1 + 8 + 8 + 1
	// MaxDatagram is the largest encoded notification NotifyDatagram
	// sends: with the header and the seal, a datagram stays within one
	// packet of a 1280-byte IPv6 minimum MTU.
	MaxDatagram = 1200
	lossWindow  = 64
	// lossFresh is how long a loss measure counts (Lossy): a link that
	// stopped carrying datagrams is not judged by what it did before.
	lossFresh = 3 * time.Second
)

// session is what a handshake yields: the stream's sealer (nil in an
// open cluster) and the datagram session.
type session struct {
	sealer *sealer
	dg     *dgram
}

func newSession(key, nonceD, nonceL []byte, dialer bool) (*session, error) {
	s, err := newSealer(key, nonceD, nonceL, dialer)
	if err != nil {
		return nil, err
	}
	d2l, err := newAEAD(mac(key, "gossipsync/1 dgram d2l", nonceD, nonceL))
	if err != nil {
		return nil, err
	}
	l2d, err := newAEAD(mac(key, "gossipsync/1 dgram l2d", nonceD, nonceL))
	if err != nil {
		return nil, err
	}
	dg := &dgram{sid: sessionID(key, nonceD, nonceL), send: d2l, recv: l2d}
	if !dialer {
		dg.send, dg.recv = l2d, d2l
	}
	return &session{sealer: s, dg: dg}, nil
}

// openSession is an open cluster's: datagrams name their session but
// are not sealed.
func openSession(nonceD, nonceL []byte, dialer bool) *session {
	return &session{dg: &dgram{sid: sessionID(nil, nonceD, nonceL)}}
}

func sessionID(key, nonceD, nonceL []byte) uint64 {
	return binary.BigEndian.Uint64(mac(key, "gossipsync/1 session", nonceD, nonceL))
}

// dgram is one connection's datagram session.
type dgram struct {
	sid        uint64
	send, recv cipher.AEAD // nil in an open cluster
	sendSeq    atomic.Uint64
	addr       atomic.Pointer[net.UDPAddr] // the peer's gossip address, found on first use

	mu       sync.Mutex // protects the fields below
	maxSeq   uint64     // the highest sequence received; 0: none yet
	firstSeq uint64     // the first received
	seen     uint64     // bit i: maxSeq-i was received
	loss     uint8      // percent of the window missing, as of the last arrival
	peerLoss uint8      // what the peer reports missing of ours
}

// accept records sequence seq and reports whether it is new: not a
// duplicate or replay, nor older than the window.
func (d *dgram) accept(seq uint64, peerLoss uint8) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case seq == 0:
		return false
	case d.maxSeq == 0:
		d.maxSeq, d.firstSeq, d.seen = seq, seq, 1
	case seq > d.maxSeq:
		if shift := seq - d.maxSeq; shift >= lossWindow {
			d.seen = 1
		} else {
			d.seen = d.seen<<shift | 1
		}
		d.maxSeq = seq
	default:
		back := d.maxSeq - seq
		if back >= lossWindow || seq < d.firstSeq || d.seen&(1<<back) != 0 {
			return false
		}
		d.seen |= 1 << back
	}
	span := min(d.maxSeq-d.firstSeq+1, lossWindow)
	mask := ^uint64(0)
	if span < lossWindow {
		mask = 1<<span - 1
	}
	missing := span - uint64(bits.OnesCount64(d.seen&mask))
	d.loss = uint8(missing * 100 / span)
	d.peerLoss = peerLoss
	return true
}

// lossy reports whether either end saw datagrams of the other go
// missing within the last window.
func (d *dgram) lossy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loss > 0 || d.peerLoss > 0
}

// seal returns the datagram of sequence seq that carries body.
func (d *dgram) seal(seq uint64, body []byte) []byte {
	pkt := make([]byte, dgramHeader, dgramHeader+len(body)+16)
	pkt[0] = dgramMarker
	binary.BigEndian.PutUint64(pkt[1:], d.sid)
	binary.BigEndian.PutUint64(pkt[9:], seq)
	pkt[17] = d.lossReport()
	if d.send == nil {
		return append(pkt, body...)
	}
	return d.send.Seal(pkt, seqNonce(seq), body, pkt[:dgramHeader])
}

func (d *dgram) lossReport() uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loss
}

// NotifyDatagram sends a copy of the notification (method, req) to node
// as one datagram, over the connection to node that is open, if any: it
// never dials, never waits, and reports whether the datagram went out
// (false also when it would exceed MaxDatagram). The receiver serves it
// only if method is registered with HandleNoticeInline, on its packet
// reader, with Request.Datagram true: such a handler must not wait.
// Datagrams may be lost, duplicated (by the sender's own stream copy) and
// reordered: only for methods that tolerate all three.
func (n *Node) NotifyDatagram(node, method string, req any) bool {
	n.rpc.mu.Lock()
	c := n.rpc.conns[node]
	n.rpc.mu.Unlock()
	if c == nil || c.isClosed() || n.closed.Load() {
		return false
	}
	addr := c.dg.addr.Load()
	if addr == nil {
		a, ok := n.packetAddr(node)
		if !ok {
			return false
		}
		addr = a
		c.dg.addr.Store(a)
	}
	payload, err := wire.Encode(req)
	if err != nil {
		return false
	}
	body, err := wire.Marshal(&wire.Frame{Kind: wire.KindRequest, Method: method, Body: payload})
	if err != nil || len(body) > MaxDatagram {
		return false
	}
	pkt := c.dg.seal(c.dg.sendSeq.Add(1), body)
	_, err = n.tr.pc.WriteTo(pkt, addr)
	return err == nil
}

// Lossy reports whether the datagrams exchanged with node over the
// connection to it lately went missing, either way: the link loses
// packets, and a stream's lost segment would wait for TCP to send it
// again. False when no datagram passed lately.
func (n *Node) Lossy(node string) bool {
	n.loss.mu.Lock()
	defer n.loss.mu.Unlock()
	at, ok := n.loss.at[node]
	if ok && time.Since(at) >= lossFresh {
		delete(n.loss.at, node)
		return false
	}
	return ok
}

// lossState remembers, by peer, when a datagram session with it last
// showed loss: the sessions of two connections to one peer (both ends
// dialed) count alike.
type lossState struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (n *Node) noteLoss(peer string) {
	n.loss.mu.Lock()
	defer n.loss.mu.Unlock()
	if n.loss.at == nil {
		n.loss.at = map[string]time.Time{}
	}
	n.loss.at[peer] = time.Now()
}

// packetAddr returns the gossip (packet) address of the alive member
// named name.
func (n *Node) packetAddr(name string) (*net.UDPAddr, bool) {
	for _, m := range n.serf.Members() {
		if m.Name == name && m.Status == serf.StatusAlive {
			ip, ok := netip.AddrFromSlice(m.Addr)
			if !ok {
				return nil, false
			}
			return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), m.Port)), true
		}
	}
	return nil, false
}

var errDatagram = errors.New("cluster: datagram refused")

// onDatagram serves one datagram that the transport read (it starts
// with dgramMarker), on the packet reader. Anything wrong drops it.
func (n *Node) onDatagram(pkt []byte) error {
	if len(pkt) < dgramHeader {
		return fmt.Errorf("%w: %d bytes", errDatagram, len(pkt))
	}
	sid, seq := binary.BigEndian.Uint64(pkt[1:]), binary.BigEndian.Uint64(pkt[9:])
	n.rpc.mu.Lock()
	c := n.rpc.bySession[sid]
	n.rpc.mu.Unlock()
	if c == nil || c.isClosed() {
		return fmt.Errorf("%w: no connection of session %x", errDatagram, sid)
	}
	body := pkt[dgramHeader:]
	if c.dg.recv != nil {
		var err error
		if body, err = c.dg.recv.Open(nil, seqNonce(seq), body, pkt[:dgramHeader]); err != nil {
			return fmt.Errorf("%w: failed authentication", errDatagram)
		}
	}
	f, err := wire.Unmarshal(body)
	if err != nil {
		return fmt.Errorf("%w: %v", errDatagram, err)
	}
	if f.Kind != wire.KindRequest || f.ID != 0 || !n.noticeInline(f.Method) {
		return fmt.Errorf("%w: %v frame of %q is not a datagram notification", errDatagram, f.Kind, f.Method)
	}
	if !c.dg.accept(seq, pkt[17]) {
		return nil // a duplicate, a replay or too old
	}
	if c.dg.lossy() {
		n.noteLoss(c.peer)
	}
	n.serveNotice(n.baseCtx, &Request{From: c.peer, Method: f.Method, body: f.Body, datagram: true})
	return nil
}
