package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// noticeQueue is how many notifications a connection holds for its
// notice loop; past it the connection stops reading until one is taken.
const noticeQueue = 256

// Notify sends req to node's handler for method without waiting for a
// reply. It returns once the request is queued on the connection (for
// the node's own name: once the handler has run), with an error only
// when it cannot be sent: ctx ended while it waited for a dial or for
// room in the connection's queue, the peer cannot be reached, the frame
// is too large, or the node is closed. ctx bounds the sending only.
//
// Nothing confirms delivery: the handler's reply is discarded and its
// error is logged at debug level by the receiver. A peer sees the
// notifications of one connection in the order they were sent, handled
// one at a time by one goroutine per connection, so a handler of
// notifications must return quickly; its ctx ends when the connection
// breaks or the node closes. Notify suits messages whose loss the caller
// tolerates and repairs, such as Raft's: it saves the reply frame and
// the round trip that Call waits for.
//
// On the wire a notification is a request with id 0, so a node that does
// not know them answers it as a call, and the reply is dropped.
func (n *Node) Notify(ctx context.Context, node, method string, req any) error {
	body, err := n.request(ctx, method, req)
	if err != nil {
		return err
	}
	if node == n.name {
		n.serveNotice(n.baseCtx, &Request{From: n.name, Method: method, body: body})
		return nil
	}
	c, err := n.rpcConn(ctx, node)
	if err != nil {
		if cerr := ctxEnded(ctx); cerr != nil {
			return cerr
		}
		return err
	}
	err = c.send(ctx, &wire.Frame{Kind: wire.KindRequest, Method: method, Body: body})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errFrameTooLarge):
		return fmt.Errorf("%w (%s to %s)", err, method, node)
	}
	return fmt.Errorf("%w to %s: %v", ErrConnLost, node, err)
}

// NotifyNow is Notify that never waits: it sends req to node only if a
// connection to node is open and its write queue has room, and reports
// whether it did (nothing was sent otherwise). A caller that must not
// wait (a Raft loop) sends what NotifyNow refused with Notify, from a
// goroutine of its own; the node's own name is always refused.
func (n *Node) NotifyNow(node, method string, req any) bool {
	if node == n.name {
		return false
	}
	n.rpc.mu.Lock()
	c := n.rpc.conns[node]
	n.rpc.mu.Unlock()
	if c == nil || c.isClosed() {
		return false
	}
	body, err := n.request(context.Background(), method, req)
	if err != nil {
		return false
	}
	return c.trySend(&wire.Frame{Kind: wire.KindRequest, Method: method, Body: body}) == nil
}

// HandleNoticeInline registers h for method as Handle does, and runs the
// notifications of method on the connection's reader itself rather than
// on its notice goroutine: one hand-over fewer for each. The reader
// reads nothing else meanwhile, replies to this node's calls included,
// so h must return at once (it may wait briefly, for room in a bounded
// queue, say). Notifications of method keep their order among
// themselves; others may overtake them or be overtaken. Calls of method
// run as usual.
func (n *Node) HandleNoticeInline(method string, h Handler) {
	n.Handle(method, h)
	if h == nil {
		return
	}
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	if n.rpc.inline == nil {
		n.rpc.inline = map[string]bool{}
	}
	n.rpc.inline[method] = true
}

// noticeInline reports whether notifications of method run on the
// reader (HandleNoticeInline).
func (n *Node) noticeInline(method string) bool {
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	return n.rpc.inline[method]
}

// serveNotice runs the handler of one notification and logs its error;
// the reply is not even encoded.
func (n *Node) serveNotice(ctx context.Context, r *Request) {
	if _, err := n.run(ctx, r); err != nil {
		n.log.Debug("rpc notification failed", "method", r.Method, "from", r.From, "err", err)
	}
}

// noticeLoop handles the notifications readLoop queues on notices, in
// order, until the conn closes. Their ctx ends with the conn: close
// cancels every entry of serving, where the loop's cancel sits under id
// 0, which no call uses.
func (c *conn) noticeLoop(notices <-chan *wire.Frame) {
	ctx, cancel := context.WithCancel(c.node.baseCtx)
	defer cancel()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.serving[0] = cancel
	c.mu.Unlock()
	for {
		select {
		case f := <-notices:
			c.node.serveNotice(ctx, &Request{From: c.peer, Method: f.Method, body: f.Body})
		case <-c.done:
			return
		}
	}
}

// queueNotice hands f to the notice loop; false if the conn closed
// first.
func (c *conn) queueNotice(notices chan<- *wire.Frame, f *wire.Frame) bool {
	select {
	case notices <- f:
		return true
	case <-c.done:
		return false
	}
}
