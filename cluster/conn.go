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

// errFrameTooLarge is returned by write for a frame over the limit; the
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

	// Frames are sealed and queued under wmu, in stream order; whichever
	// writer finds no flush in progress writes everything queued, in as
	// few writes as it takes, so frames sent at once share a syscall.
	wmu      sync.Mutex // protects sealer, wbuf, spare and flushing
	sealer   *sealer    // nil in an open cluster
	wbuf     []byte     // length-prefixed sealed frames not yet written
	spare    []byte     // the last written buffer, reused for wbuf
	flushing bool       // a writer is writing wbuf out

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

// call sends a request frame and waits for its reply.
func (c *conn) call(ctx context.Context, f *wire.Frame) (*wire.Frame, error) {
	f.ID = c.node.newRequestID()
	if dl, ok := ctx.Deadline(); ok {
		f.Timeout = max(int64(time.Until(dl)), 1)
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
	if err := c.write(ctx, f); err != nil {
		return nil, fmt.Errorf("%w to %s: %v", ErrConnLost, c.peer, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return nil, fmt.Errorf("%w to %s: %v", ErrConnLost, c.peer, c.err)
	case <-ctx.Done():
		c.cancelRemote(f.ID)
		return nil, ctx.Err()
	}
}

// cancelRemote tells the peer that request id was abandoned, so its
// handler's ctx is canceled; best effort.
func (c *conn) cancelRemote(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.write(ctx, &wire.Frame{Kind: wire.KindCancel, ID: id})
}

// write seals one frame and queues it; if no other writer is flushing,
// it writes the queue out itself. It returns once the frame is written
// or handed to the writer in progress (a failure there closes the conn,
// which every call waiting on it sees). A failed write closes the conn.
func (c *conn) write(ctx context.Context, f *wire.Frame) error {
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
	if c.isClosed() {
		c.wmu.Unlock()
		return c.closedErr()
	}
	// Sealing and queueing under one lock keeps the frames in the order
	// of their sequence numbers.
	c.wbuf = c.sealer.appendSealed(binary.BigEndian.AppendUint32(c.wbuf, uint32(len(body)+c.sealer.overhead())), body)
	if c.flushing {
		c.wmu.Unlock()
		return nil
	}
	c.flushing = true
	for len(c.wbuf) > 0 {
		buf := c.wbuf
		c.wbuf = c.spare[:0]
		c.wmu.Unlock()
		dl := time.Now().Add(writeTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		c.nc.SetWriteDeadline(dl)
		_, err := c.nc.Write(buf)
		c.wmu.Lock()
		if cap(buf) <= maxSpare {
			c.spare = buf[:0]
		}
		if err != nil {
			c.flushing = false
			c.wmu.Unlock()
			c.close(err)
			return err
		}
	}
	c.flushing = false
	c.wmu.Unlock()
	return nil
}

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
	var handlers sync.WaitGroup
	defer handlers.Wait()
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
			sem <- struct{}{}
			handlers.Add(1)
			go func() {
				defer func() { <-sem; handlers.Done() }()
				c.handle(f)
			}()
		case wire.KindCancel:
			c.mu.Lock()
			if cancel := c.serving[f.ID]; cancel != nil {
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

// handle serves one request and writes its reply.
func (c *conn) handle(f *wire.Frame) {
	ctx, cancel := context.WithCancel(c.node.baseCtx)
	if f.Timeout > 0 {
		ctx, cancel = context.WithTimeout(c.node.baseCtx, time.Duration(f.Timeout))
	}
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
	err := c.write(context.Background(), reply)
	if errors.Is(err, errFrameTooLarge) {
		err = c.write(context.Background(), &wire.Frame{Kind: wire.KindError, ID: f.ID, Message: err.Error()})
	}
	if err != nil && !c.isClosed() {
		c.node.log.Debug("rpc reply not sent", "peer", c.peer, "method", f.Method, "err", err)
	}
}
