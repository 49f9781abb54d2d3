package cluster

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gateNet is the socket Network whose dialed RPC streams (those whose
// first write is the marker byte) can be held, deterministically:
//   - while writes are held, a Write blocks as a socket's does when the
//     peer stops reading and the send buffer is full, until the writes are
//     let go, the write deadline passes or the conn closes;
//   - while reads are held, a Read blocks as if the peer sent nothing,
//     until the reads are let go, the read deadline passes or the conn
//     closes.
//
// Gossip streams pass through untouched.
type gateNet struct {
	SocketNetwork
	mu     sync.Mutex    // protects writes and reads
	writes chan struct{} // non-nil while writes are held; closed to let go
	reads  chan struct{} // the same for reads

	blocked atomic.Int64  // Writes and Reads blocked on a gate now
	onBlock chan struct{} // gets a token each time one blocks
}

var _ Network = (*gateNet)(nil)

func newGateNet() *gateNet { return &gateNet{onBlock: make(chan struct{}, 64)} }

func (g *gateNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := g.SocketNetwork.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &gateConn{Conn: c, net: g, closed: make(chan struct{})}, nil
}

// holdWrites and holdReads hold the RPC streams' writes or reads until
// the returned function lets them go (it may be called more than once).
func (g *gateNet) holdWrites() (letGo func()) { return g.hold(&g.writes) }
func (g *gateNet) holdReads() (letGo func())  { return g.hold(&g.reads) }

func (g *gateNet) hold(gate *chan struct{}) func() {
	ch := make(chan struct{})
	g.mu.Lock()
	*gate = ch
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			*gate = nil
			g.mu.Unlock()
			close(ch)
		})
	}
}

// waitBlocked waits until a Write or Read is blocked on a gate.
func (g *gateNet) waitBlocked(t *testing.T) {
	t.Helper()
	select {
	case <-g.onBlock:
	case <-time.After(10 * time.Second):
		t.Fatal("no write or read blocked on the gate within 10s")
	}
}

type gateConn struct {
	net.Conn
	net *gateNet
	rpc atomic.Bool // the first write was the RPC marker

	mu        sync.Mutex // protects the deadlines
	writeDL   time.Time
	readDL    time.Time
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *gateConn) Write(b []byte) (int, error) {
	if !c.rpc.Load() && len(b) == 1 && b[0] == rpcMarker {
		c.rpc.Store(true)
		return c.Conn.Write(b)
	}
	c.mu.Lock()
	dl := c.writeDL
	c.mu.Unlock()
	if err := c.wait(&c.net.writes, dl); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *gateConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	dl := c.readDL
	c.mu.Unlock()
	if err := c.wait(&c.net.reads, dl); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// wait blocks while gate is held, if c is an RPC stream.
func (c *gateConn) wait(gate *chan struct{}, deadline time.Time) error {
	if !c.rpc.Load() {
		return nil
	}
	c.net.mu.Lock()
	ch := *gate
	c.net.mu.Unlock()
	if ch == nil {
		return nil
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		expired = tm.C
	}
	c.net.blocked.Add(1)
	defer c.net.blocked.Add(-1)
	select {
	case c.net.onBlock <- struct{}{}:
	default:
	}
	select {
	case <-ch:
		return nil
	case <-expired:
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
}

func (c *gateConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDL, c.readDL = t, t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *gateConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDL = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *gateConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDL = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *gateConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// gatedPair returns two joined nodes, a on a gateNet (so a's dialed RPC
// streams can be held) and b on real sockets, with an echo method on
// each, and a connection from a to b already open.
func gatedPair(t *testing.T) (a, b *Node, g *gateNet) {
	t.Helper()
	g = newGateNet()
	a, err := New(Config{Name: "a", BindAddr: "127.0.0.1:0", SecretKey: testKey, Profile: Local, Network: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b = newTestNode(t, "b", testKey)
	for _, n := range []*Node{a, b} {
		HandleFunc(n, "echo", func(ctx context.Context, from string, r echoReq) (echoResp, error) {
			return echoResp{From: from, Text: r.Text}, nil
		})
	}
	if _, err := a.Join(context.Background(), b.Addr()); err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{a, b}
	waitFor(t, 10*time.Second, "a and b see each other", func() bool { return allSee(nodes, names(nodes...)) })
	if err := a.Call(context.Background(), "b", "echo", echoReq{"warm"}, nil); err != nil {
		t.Fatal(err)
	}
	return a, b, g
}

// connTo returns n's pooled connection to peer, or nil.
func connTo(n *Node, peer string) *conn {
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	return n.rpc.conns[peer]
}
