package simnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// packet is one datagram on the wire.
type packet struct {
	from   *net.UDPAddr // sender, as the receiver sees it
	fromIP string
	to     string // receiver "ip:port"
	toIP   string
	data   []byte
}

// packetConn is a net.PacketConn on a Net. Safe for concurrent use.
type packetConn struct {
	n    *Net
	ip   string
	addr *net.UDPAddr
	key  string
	in   chan *packet  // received packets
	done chan struct{} // closed by shut
	once sync.Once
	rdl  *deadline
	wdl  *deadline
}

var _ net.PacketConn = (*packetConn)(nil)

func newPacketConn(n *Net, ip string, addr *net.UDPAddr) *packetConn {
	return &packetConn{
		n: n, ip: ip, addr: addr, key: hostPort(ip, addr.Port),
		in:   make(chan *packet, packetQueueLen),
		done: make(chan struct{}),
		rdl:  newDeadline(),
		wdl:  newDeadline(),
	}
}

// ReadFrom waits for a packet, the read deadline or Close.
func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-c.done:
		return 0, nil, errClosed
	case <-c.rdl.wait():
		return 0, nil, timeoutErr("read from", c.addr)
	default:
	}
	select {
	case p := <-c.in:
		return copy(b, p.data), p.from, nil
	case <-c.done:
		return 0, nil, errClosed
	case <-c.rdl.wait():
		return 0, nil, timeoutErr("read from", c.addr)
	}
}

// WriteTo sends a copy of b to addr and never blocks; the packet may be
// lost on the way.
func (c *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, errClosed
	case <-c.wdl.wait():
		return 0, timeoutErr("write to", c.addr)
	default:
	}
	if addr == nil {
		return 0, errors.New("sim: write to: missing address")
	}
	ip, port, err := splitAddr(addr.String())
	if err != nil {
		return 0, fmt.Errorf("sim: write to %v: %w", addr, err)
	}
	from := &net.UDPAddr{IP: c.addr.IP, Port: c.addr.Port}
	c.n.send(&packet{from: from, fromIP: c.ip, to: hostPort(ip, port), toIP: ip, data: slices.Clone(b)})
	return len(b), nil
}

// Close stops the conn; pending and later reads and writes fail.
func (c *packetConn) Close() error {
	c.n.mu.Lock()
	if c.n.mu.packets[c.key] == c {
		delete(c.n.mu.packets, c.key)
	}
	c.n.mu.Unlock()
	return c.shut()
}

// shut closes the conn without touching the Net.
func (c *packetConn) shut() error {
	err := errClosed
	c.once.Do(func() {
		close(c.done)
		err = nil
	})
	return err
}

func (c *packetConn) LocalAddr() net.Addr { return c.addr }

func (c *packetConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *packetConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *packetConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// opError is the error of a failed operation on an address: a dial that
// was refused or timed out, or a read or write past its deadline.
type opError struct {
	op      string // "dial", "read", ...
	addr    string
	timeout bool
	cause   error // ctx.Err(), os.ErrDeadlineExceeded, syscall.ECONNREFUSED, ...
}

func (e *opError) Error() string {
	msg := "i/o timeout"
	if !e.timeout {
		msg = e.cause.Error()
	}
	return "sim: " + e.op + " " + e.addr + ": " + msg
}

func (e *opError) Unwrap() error   { return e.cause }
func (e *opError) Timeout() bool   { return e.timeout }
func (e *opError) Temporary() bool { return e.timeout }

var _ net.Error = (*opError)(nil)

// timeoutErr is the error of an operation past its deadline; it matches
// os.ErrDeadlineExceeded and has Timeout() true.
func timeoutErr(op string, addr net.Addr) error {
	return &opError{op: op, addr: addr.String(), timeout: true, cause: os.ErrDeadlineExceeded}
}
