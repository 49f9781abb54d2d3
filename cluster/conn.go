package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// errFrameTooLarge is returned by send for a frame over the limit; the
// conn stays open.
var errFrameTooLarge = errors.New("cluster: frame too large")

// conn is one authenticated RPC connection to a peer. Both sides send
// requests on it; replies are matched to requests by id. Safe for
// concurrent use.
type conn struct {
	node *Node
	peer string
	nc   net.Conn

	rd *bufio.Reader // nc's reads, for readLoop only

	// Frames are sealed and queued under wmu, in stream order, and
	// writeLoop writes out everything queued, in as few writes as it
	// takes, so frames sent at once share a syscall. No caller writes to
	// the socket: a peer that stops reading stalls writeLoop alone, and
	// no caller's deadline can cut a frame short or close the conn.
	wmu    sync.Mutex    // protects sealer, wbuf, spare and room
	sealer *sealer       // nil in an open cluster
	wbuf   []byte        // length-prefixed sealed frames not yet written
	spare  []byte        // the last written buffer, reused for wbuf
	room   chan struct{} // closed when writeLoop takes wbuf; nil if no sender waits for it
	wake   chan struct{} // (buffered, 1) tells writeLoop that wbuf is no longer empty

	mu      sync.Mutex // protects pending, serving and err
	pending map[uint64]chan *wire.Frame
	serving map[uint64]context.CancelFunc // the peer's requests being handled here, by their id
	err     error                         // why the conn closed; set once
	done    chan struct{}                 // closed when the conn closes
}

func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close closes the connection for reason; later calls do nothing.
func (c *conn) close(reason error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = reason
	close(c.done)
	for _, cancel := range c.serving { // the caller can no longer hear
		cancel()
	}
	c.mu.Unlock()
	c.nc.Close()
}

// call sends a request frame and waits for its reply. It returns
// ctx.Err() as soon as ctx ends, whatever the socket is doing; the frame
// that tells the peer to cancel the request is queued, not waited for.
func (c *conn) call(ctx context.Context, f *wire.Frame) (*wire.Frame, error) {
	f.ID = c.node.newRequestID()
	if dl, ok := ctx.Deadline(); ok {
		f.Timeout = int64(time.Until(dl))
		if f.Timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	ch := make(chan *wire.Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w to %s: %v", ErrConnLost, c.peer, c.err)
	}
	c.pending[f.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, f.ID)
		c.mu.Unlock()
	}()
	if err := c.send(ctx, f); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errFrameTooLarge):
			return nil, fmt.Errorf("%w (%s to %s)", err, f.Method, c.peer)
		}
		return nil, fmt.Errorf("%w to %s: %v", ErrConnLost, c.peer, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return nil, fmt.Errorf("%w to %s: %v", ErrConnLost, c.peer, c.closedErr())
	case <-ctx.Done():
		// Best effort: the handler's ctx ends with the request's timeout
		// anyway, but a request that waited in the queue started late.
		c.send(context.Background(), &wire.Frame{Kind: wire.KindCancel, ID: f.ID})
		return nil, ctx.Err()
	}
}

// maxQueued is how many bytes may wait in a conn's write queue before
// senders wait for writeLoop to take them; a frame is queued whenever
// fewer wait, so one frame of any allowed size always fits.
const maxQueued = 1 << 20

// send seals f and queues it for writeLoop; it does not wait for the
// socket. While maxQueued bytes or more wait, it waits until writeLoop
// takes them, the conn closes (its error) or ctx ends (ctx.Err()); only
// requests wait, never replies or cancel frames. A frame over the limit is refused with
// errFrameTooLarge, and the conn stays open.
func (c *conn) send(ctx context.Context, f *wire.Frame) error {
	return c.queue(ctx, f, true)
}

// errQueueFull is trySend's: the frame would have had to wait.
var errQueueFull = errors.New("cluster: connection's write queue full")

// trySend is send that never waits: a request that would wait for room
// is not sent (errQueueFull).
func (c *conn) trySend(f *wire.Frame) error {
	return c.queue(context.Background(), f, false)
}

// queue is send; a request waits for room only if wait.
func (c *conn) queue(ctx context.Context, f *wire.Frame, wait bool) error {
	if s := c.node.stamper(); s != nil {
		f.Stamp = s.Stamp()
	}
	body, err := wire.Marshal(f)
	if err != nil {
		return err
	}
	if size := len(body) + c.sealer.overhead(); size > c.node.cfg.MaxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, size, c.node.cfg.MaxFrame)
	}
	c.wmu.Lock()
	// Callers wait for room; cancel frames and replies never do. A reply
	// that waited would hold one of the connection's handler slots, and
	// with every slot taken readLoop stops reading, replies to this node's
	// own calls included: two nodes busy in both directions could then
	// wait on each other until the write timeout closed the connection.
	// Replies are bounded anyway, by maxInflight frames of MaxFrame.
	for len(c.wbuf) >= maxQueued && f.Kind == wire.KindRequest && !c.isClosed() {
		if !wait {
			c.wmu.Unlock()
			return errQueueFull
		}
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.wmu.Unlock()
		select {
		case <-room:
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.wmu.Lock()
	}
	if c.isClosed() {
		c.wmu.Unlock()
		return c.closedErr()
	}
	idle := len(c.wbuf) == 0
	// Sealing and queueing under one lock keeps the frames in the order
	// of their sequence numbers.
	c.wbuf = c.sealer.appendSealed(binary.BigEndian.AppendUint32(c.wbuf, uint32(len(body)+c.sealer.overhead())), body)
	c.wmu.Unlock()
	if idle {
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	return nil
}

// writeLoop writes out what send queues until the conn closes. A write
// that has not finished after writeTimeout (the peer stopped reading)
// closes the conn: the peer is stuck or gone.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		if err := c.flush(); err != nil {
			c.close(err)
			return
		}
	}
}

// flush writes the queue out until it is empty.
func (c *conn) flush() error {
	c.wmu.Lock()
	for len(c.wbuf) > 0 {
		buf := c.wbuf
		c.wbuf, c.spare = c.spare[:0], nil
		if c.room != nil {
			close(c.room)
			c.room = nil
		}
		c.wmu.Unlock()
		if err := c.writeOut(buf); err != nil {
			return err
		}
		c.wmu.Lock()
		if cap(buf) <= maxSpare {
			c.spare = buf[:0]
		}
	}
	c.wmu.Unlock()
	return nil
}

// writeOut writes buf in chunks of at most writeChunk bytes, each with
// its own deadline: a peer that takes nothing for writeTimeout is gone,
// but a slow link that keeps taking a large queue is not.
func (c *conn) writeOut(buf []byte) error {
	for len(buf) > 0 {
		n := min(len(buf), writeChunk)
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.nc.Write(buf[:n]); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// writeChunk is the most writeOut writes under one deadline.
const writeChunk = 256 << 10

// maxSpare bounds the write buffer a conn keeps between flushes.
const maxSpare = 64 << 10

// closedErr is why the conn closed.
func (c *conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readLoop reads frames until the conn breaks: replies go to their
// waiting calls, requests to handlers. A bad frame closes the conn.
func (c *conn) readLoop() {
	sem := make(chan struct{}, maxInflight)
	var handlers sync.WaitGroup // and writeLoop; every path out closes the conn, which ends it
	defer handlers.Wait()
	handlers.Go(c.writeLoop)
	notices := make(chan *wire.Frame, noticeQueue)
	handlers.Go(func() { c.noticeLoop(notices) })
	inlineCtx, cancel := context.WithCancel(c.node.baseCtx) // inline notices': ends with the reader
	defer cancel()
	for {
		f, err := c.readFrame()
		if err != nil {
			c.closeAfterRead(err)
			return
		}
		if s := c.node.stamper(); s != nil && f.Stamp != nil {
			s.Observe(c.peer, f.Stamp)
		}
		switch f.Kind {
		case wire.KindRequest:
			if f.ID == 0 && c.node.noticeInline(f.Method) {
				c.node.serveNotice(inlineCtx, &Request{From: c.peer, Method: f.Method, body: f.Body})
				continue
			}
			if f.ID == 0 { // a notification (Notify)
				if !c.queueNotice(notices, f) {
					c.closeAfterRead(net.ErrClosed)
					return
				}
				continue
			}
			sem <- struct{}{}
			handlers.Add(1)
			go func() {
				defer func() { <-sem; handlers.Done() }()
				c.handle(f)
			}()
		case wire.KindCancel:
			c.mu.Lock()
			if cancel := c.serving[f.ID]; cancel != nil && f.ID != 0 { // 0: the notice loop's, never a call's
				cancel()
			}
			c.mu.Unlock()
		case wire.KindResponse, wire.KindError:
			c.mu.Lock()
			ch := c.pending[f.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- f // buffered; each id is answered once
			}
		default:
			c.closeAfterRead(fmt.Errorf("%w: unexpected %v frame", ErrBadFrame, f.Kind))
			return
		}
	}
}

func (c *conn) readFrame() (*wire.Frame, error) {
	body, err := wire.ReadFrame(c.rd, c.node.cfg.MaxFrame)
	if err != nil {
		if errors.Is(err, wire.ErrTooLarge) {
			err = fmt.Errorf("%w: %v", ErrBadFrame, err)
		}
		return nil, err
	}
	body, err = c.sealer.open(body)
	if err != nil {
		return nil, err
	}
	f, err := wire.Unmarshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	return f, nil
}

// closeAfterRead closes the conn after its reader stopped, logging the
// reason unless the conn just ended normally.
func (c *conn) closeAfterRead(err error) {
	if errors.Is(err, ErrBadFrame) {
		c.node.log.Warn("rpc connection closed: bad frame", "peer", c.peer, "err", err)
	} else if !c.isClosed() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.node.log.Debug("rpc connection closed", "peer", c.peer, "err", err)
	}
	c.close(err)
	c.node.rpc.mu.Lock()
	if c.node.rpc.conns[c.peer] == c {
		delete(c.node.rpc.conns, c.peer)
	}
	delete(c.node.rpc.live, c)
	c.node.rpc.mu.Unlock()
}

// requestContext returns the context of one request's handler: a child of
// parent that ends after timeout, if positive. It makes exactly one child:
// a context made and dropped here would stay among parent's children until
// parent ends (the node closes), about 100 bytes per request served.
func requestContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(parent, timeout)
	}
	return context.WithCancel(parent)
}

// handle serves one request and writes its reply.
func (c *conn) handle(f *wire.Frame) {
	ctx, cancel := requestContext(c.node.baseCtx, time.Duration(f.Timeout))
	defer cancel()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.serving[f.ID] = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.serving, f.ID)
		c.mu.Unlock()
	}()
	reply := c.node.serve(ctx, &Request{From: c.peer, Method: f.Method, body: f.Body})
	reply.ID = f.ID
	// Replies never wait for room in the queue (see send), so a peer
	// that stops reading cannot hold this handler's slot; its replies
	// pile up to at most maxInflight frames until the write timeout
	// closes the connection.
	err := c.send(context.Background(), reply)
	if errors.Is(err, errFrameTooLarge) {
		err = c.send(context.Background(), &wire.Frame{Kind: wire.KindError, ID: f.ID, Message: err.Error()})
	}
	if err != nil && !c.isClosed() {
		c.node.log.Debug("rpc reply not sent", "peer", c.peer, "method", f.Method, "err", err)
	}
}
