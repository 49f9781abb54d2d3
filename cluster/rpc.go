package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// rpcMarker is the first byte a dialer writes on an RPC stream. Gossip
// streams and RPC streams share the node's one stream listener; memberlist's
// streams never start with this byte.
const rpcMarker = 0xA5

// handshakeTimeout bounds the handshake when ctx has no earlier deadline.
const handshakeTimeout = 5 * time.Second

// maxHandshakeFrame bounds frames before authentication, so that an
// unauthenticated peer cannot make the node buffer a large frame.
const maxHandshakeFrame = 4 << 10

// writeTimeout bounds one write to a connection's socket: a peer that
// takes no more of the queued frames for this long is stuck or gone, and
// the connection closes. Callers never wait for the socket; their
// deadlines do not apply to it.
const writeTimeout = 10 * time.Second

// readBuffer is the size of a connection's read buffer: frames that
// arrive together are read in one syscall.
const readBuffer = 16 << 10

// maxInflight bounds the requests one connection serves at once; past it
// the connection stops reading until a handler returns.
const maxInflight = 256

// Handler serves one RPC method. It runs on its own goroutine, one per
// request (a notification sent by Notify runs on its connection's notice
// goroutine, after the ones before it); ctx is done when the caller's
// deadline passes or the node closes. A returned error reaches the caller as a *RemoteError that
// unwraps to the sentinel registered with RegisterError, if any. The
// returned value is encoded with msgpack. ctx is also canceled when the
// caller gives up (its ctx is canceled) or its connection breaks.
type Handler func(ctx context.Context, req *Request) (any, error)

// Request is one incoming call.
type Request struct {
	// From is the caller's node name as the caller stated it. A
	// SecretKey proves that the caller holds the cluster's key, not that
	// it is the node of that name: any key holder can claim any name
	// (see Security in the package doc).
	From   string
	Method string
	body   []byte
}

// Decode decodes the request body into v.
func (r *Request) Decode(v any) error {
	if err := wire.Decode(r.body, v); err != nil {
		return errtext.Errorf("cluster: ", "cluster: %s: decode request: %w", r.Method, err)
	}
	return nil
}

// HandleFunc registers a typed handler for method on n: the request body is
// decoded into a Req, and the returned Resp is sent back.
func HandleFunc[Req, Resp any](n *Node, method string, f func(ctx context.Context, from string, req Req) (Resp, error)) {
	n.Handle(method, func(ctx context.Context, r *Request) (any, error) {
		var req Req
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
		return f(ctx, r.From, req)
	})
}

// Handle registers h for method, replacing any earlier handler; a nil h
// removes it. Methods whose names start with "cluster." are reserved. Safe
// for concurrent use.
func (n *Node) Handle(method string, h Handler) {
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	delete(n.rpc.inline, method)
	if h == nil {
		delete(n.rpc.handlers, method)
		return
	}
	n.rpc.handlers[method] = h
}

// Call invokes method on the member named node with req and decodes the
// reply into resp (which may be nil to discard it). It returns when the
// reply arrives, ctx is done (ctx.Err(), at once: no clean-up is waited
// for), the connection breaks (ErrConnLost) or the node closes
// (ErrClosed). A ctx that has already ended sends nothing, and Call never
// reports success after ctx's deadline: a reply it takes later is dropped
// (ctx.Err()). The remaining time of ctx travels with the request and
// bounds the handler; a caller that gives up cancels the handler's ctx
// too. One caller's ctx never closes the connection that other calls
// share. A call to the node's own name runs the handler locally, through
// the same encoding. Every call counts in Stats.
func (n *Node) Call(ctx context.Context, node, method string, req, resp any) error {
	start := time.Now()
	err := n.call(ctx, node, method, req, resp)
	n.rpc.stats.record(method, start, err)
	return err
}

func (n *Node) call(ctx context.Context, node, method string, req, resp any) error {
	body, err := n.request(ctx, method, req)
	if err != nil {
		return err
	}
	var reply *wire.Frame
	if node == n.name {
		reply = n.serve(ctx, &Request{From: n.name, Method: method, body: body})
	} else {
		c, err := n.rpcConn(ctx, node)
		if err != nil {
			if cerr := ctxEnded(ctx); cerr != nil { // the dial or handshake ran out of time
				return cerr
			}
			return err
		}
		reply, err = c.call(ctx, &wire.Frame{Kind: wire.KindRequest, Method: method, Body: body})
		if err != nil {
			return err
		}
	}
	// A reply and the deadline can be ready at once (a timer that fires
	// late on a loaded machine); only a reply in time counts.
	if err := ctxEnded(ctx); err != nil {
		return err
	}
	if reply.Kind == wire.KindError {
		return &RemoteError{Node: node, Method: method, Code: reply.Code, Message: reply.Message}
	}
	if resp == nil {
		return nil
	}
	if err := wire.Decode(reply.Body, resp); err != nil {
		return errtext.Errorf("cluster: ", "cluster: %s on %s: decode reply: %w", method, node, err)
	}
	return nil
}

// request encodes req for method, once the node is open and ctx has not
// ended.
func (n *Node) request(ctx context.Context, method string, req any) ([]byte, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctxEnded(ctx); err != nil {
		return nil, err
	}
	body, err := wire.Encode(req)
	if err != nil {
		return nil, errtext.Errorf("cluster: ", "cluster: %s: encode request: %w", method, err)
	}
	return body, nil
}

// ctxEnded returns ctx.Err(), or context.DeadlineExceeded once ctx's
// deadline has passed even if its timer has not fired yet.
func ctxEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// serve runs the handler for one request and returns the reply frame.
func (n *Node) serve(ctx context.Context, r *Request) *wire.Frame {
	fail := func(err error) *wire.Frame {
		return &wire.Frame{Kind: wire.KindError, Code: codeOf(err), Message: err.Error()}
	}
	v, err := n.run(ctx, r)
	if err != nil {
		return fail(err)
	}
	body, err := wire.Encode(v)
	if err != nil {
		return fail(errtext.Errorf("cluster: ", "cluster: %s: encode reply: %w", r.Method, err))
	}
	return &wire.Frame{Kind: wire.KindResponse, Body: body}
}

// run runs the handler for one request; a panic in it is logged and
// returned as an error.
func (n *Node) run(ctx context.Context, r *Request) (v any, err error) {
	n.rpc.mu.Lock()
	h := n.rpc.handlers[r.Method]
	n.rpc.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownMethod, r.Method)
	}
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("rpc handler panicked", "method", r.Method, "from", r.From, "panic", p, "stack", string(debug.Stack()))
			v, err = nil, fmt.Errorf("cluster: handler %s panicked", r.Method)
		}
	}()
	return h(ctx, r)
}

// Stamper puts a small header on every RPC frame this node sends and
// reads the header of every frame it receives; package clock uses it to
// carry hybrid logical clock timestamps, so causality holds across nodes.
// Both methods are called on the connections' goroutines, concurrently,
// and must be fast and not block. Stamp must return at most 64 bytes.
type Stamper interface {
	Stamp() []byte
	Observe(peer string, stamp []byte)
}

// SetStamper installs s for every later frame; nil removes it. A node has
// one Stamper at a time. Safe for concurrent use.
func (n *Node) SetStamper(s Stamper) {
	if s == nil {
		n.rpc.stamp.Store(nil)
		return
	}
	n.rpc.stamp.Store(&s)
}

func (n *Node) stamper() Stamper {
	if p := n.rpc.stamp.Load(); p != nil {
		return *p
	}
	return nil
}

// rpcState is the node's RPC side: handlers and the connection pool.
type rpcState struct {
	mu       sync.Mutex // protects the fields below
	handlers map[string]Handler
	inline   map[string]bool          // notification methods run on the reader (HandleNoticeInline)
	conns    map[string]*conn         // by peer name; either side may have dialed
	live     map[*conn]struct{}       // every open conn, for Close
	dialing  map[string]chan struct{} // closed when the dial in progress ends
	// dialCancel ends the dial in progress to a member (dropConns).
	dialCancel map[string]context.CancelFunc
	nextID     uint64

	stamp atomic.Pointer[Stamper] // read on every frame, without mu
	stats rpcStats                // the calls this node made, by method
}

// startConn registers c under its peer's name and starts its reader,
// which runs its writer.
func (n *Node) startConn(nc net.Conn, peer string, s *sealer) (*conn, error) {
	c := &conn{node: n, peer: peer, nc: nc, rd: bufio.NewReaderSize(nc, readBuffer), sealer: s, pending: map[uint64]chan *wire.Frame{}, serving: map[uint64]context.CancelFunc{}, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	n.rpc.mu.Lock()
	n.rpc.live[c] = struct{}{}
	if old := n.rpc.conns[peer]; old == nil || old.isClosed() {
		n.rpc.conns[peer] = c
	}
	n.rpc.mu.Unlock()
	// Registered before the reader starts, so Close either sees c or
	// stops spawn from starting it.
	if !n.spawn(c.readLoop) {
		c.closeAfterRead(ErrClosed)
		return nil, ErrClosed
	}
	return c, nil
}

// dropConns closes the connections to peer (after it failed or left), so
// that calls waiting on it fail at once with ErrConnLost.
func (n *Node) dropConns(peer string) {
	n.rpc.mu.Lock()
	if cancel := n.rpc.dialCancel[peer]; cancel != nil {
		cancel()
	}
	c := n.rpc.conns[peer]
	delete(n.rpc.conns, peer)
	n.rpc.mu.Unlock()
	if c != nil {
		c.close(fmt.Errorf("%w: %s is no longer a live member", ErrConnLost, peer))
	}
}

func (n *Node) closeAllConns() {
	n.rpc.mu.Lock()
	live := n.rpc.live
	n.rpc.conns = map[string]*conn{}
	n.rpc.live = map[*conn]struct{}{}
	n.rpc.mu.Unlock()
	for c := range live {
		c.close(ErrClosed)
	}
}

func (n *Node) newRequestID() uint64 {
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	n.rpc.nextID++
	return n.rpc.nextID
}

// Reply is one node's answer in CallAll.
type Reply[R any] struct {
	Node string
	Resp R
	Err  error
}

// CallAll calls method on every node named in nodes at once (nil: every
// alive member, this one included) and returns one Reply per node, after
// all have answered or ctx has ended (a call that ctx cut short replies
// ctx's error): give ctx a deadline. Packages that need a majority of the
// cluster use it.
func CallAll[R any](ctx context.Context, n *Node, nodes []string, method string, req any) []Reply[R] {
	return CallUntil[R](ctx, n, nodes, method, req, nil)
}

// CallUntil is CallAll that returns as soon as enough, called with the
// replies so far after each one, reports true (a nil enough never does).
// The calls still outstanding then run on until they end or ctx does,
// and their replies are dropped. They belong to the node: Close ends
// them (ErrConnLost, ErrClosed) and waits for them. On a closed node
// every reply is ErrClosed.
func CallUntil[R any](ctx context.Context, n *Node, nodes []string, method string, req any, enough func([]Reply[R]) bool) []Reply[R] {
	if nodes == nil {
		nodes = n.MemberNames()
	}
	ctx, cancel := context.WithCancel(ctx)
	// The last call to end cancels ctx, which may be after CallUntil
	// returned.
	var left atomic.Int32
	left.Store(int32(len(nodes)))
	end := func() {
		if left.Add(-1) == 0 {
			cancel()
		}
	}
	if len(nodes) == 0 {
		cancel()
	}
	// The other nodes are called on goroutines of their own; this node's
	// handler runs here once they are on their way, which saves a
	// goroutine per call.
	out := make(chan Reply[R], len(nodes))
	self := false
	for _, name := range nodes {
		if name == n.name && !self {
			self = true
			continue
		}
		call := func() {
			r := Reply[R]{Node: name}
			r.Err = n.Call(ctx, name, method, req, &r.Resp)
			out <- r
			end()
		}
		if !n.spawn(call) {
			out <- Reply[R]{Node: name, Err: ErrClosed}
			end()
		}
	}
	replies := make([]Reply[R], 0, len(nodes))
	if self {
		r := Reply[R]{Node: n.name}
		r.Err = n.Call(ctx, n.name, method, req, &r.Resp)
		end()
		replies = append(replies, r)
	}
	for {
		if len(replies) == len(nodes) || enough != nil && len(replies) > 0 && enough(replies) {
			return replies
		}
		replies = append(replies, <-out)
	}
}
