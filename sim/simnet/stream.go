package simnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Dial implements cluster.Network. A dial to a host that is down or cut off
// (in either direction) gets no answer: it waits until ctx is done and
// returns a net.Error with Timeout() true. A dial to a port where nothing
// listens is refused at once. Otherwise the stream is handed over only if
// the listener accepts it before ctx is done.
func (h *host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if h.addr == nil {
		return nil, fmt.Errorf("sim: dial %s: host %q is not an ip address", addr, h.ip)
	}
	ip, port, err := splitAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("sim: dial %s: %w", addr, err)
	}
	key := hostPort(ip, port)
	if err := ctx.Err(); err != nil {
		return nil, h.n.dialFailed(key, true, err)
	}
	n := h.n
	n.mu.Lock()
	connected := n.connectedLocked(h.ip, ip)
	ln := n.mu.listeners[key]
	var pair *streamPair
	if connected && ln != nil {
		pair = n.newPairLocked(h, ln)
	}
	n.mu.Unlock()
	switch {
	case !connected:
		<-ctx.Done()
		return nil, n.dialFailed(key, true, ctx.Err())
	case ln == nil:
		return nil, n.dialFailed(key, false, syscall.ECONNREFUSED)
	}
	return n.handOver(ctx, pair, ln)
}

// handOver gives the accepting end of pair to ln, or gives up when ctx is
// done or ln closes.
func (n *Net) handOver(ctx context.Context, pair *streamPair, ln *listener) (net.Conn, error) {
	select {
	case ln.accept <- pair.b:
		n.count(func(s *NetStats) { s.StreamsOpened++ })
		return pair.a, nil
	case <-ctx.Done():
		n.drop(pair)
		return nil, n.dialFailed(ln.key, true, ctx.Err())
	case <-ln.done:
		n.drop(pair)
		return nil, n.dialFailed(ln.key, false, syscall.ECONNREFUSED)
	}
}

func (n *Net) dialFailed(addr string, timeout bool, cause error) error {
	n.count(func(s *NetStats) { s.DialsFailed++ })
	return &opError{op: "dial", addr: addr, timeout: timeout, cause: cause}
}

// newPairLocked creates and registers the two ends of a stream from h to
// ln.
func (n *Net) newPairLocked(h *host, ln *listener) *streamPair {
	from := &net.TCPAddr{IP: h.addr, Port: n.nextPortLocked()}
	ab, ba := newHalf(), newHalf()
	n.mu.streamSeq++
	p := &streamPair{open: 2, seq: n.mu.streamSeq}
	p.a = &streamConn{n: n, pair: p, localIP: h.ip, local: from, remote: ln.addr,
		rx: ba, tx: ab, rdl: newDeadline(), wdl: newDeadline()}
	p.b = &streamConn{n: n, pair: p, localIP: ln.ip, local: ln.addr, remote: from,
		rx: ab, tx: ba, rdl: newDeadline(), wdl: newDeadline()}
	n.mu.streams[p] = struct{}{}
	return p
}

// listener is a net.Listener on a Net. Safe for concurrent use.
type listener struct {
	n      *Net
	ip     string
	key    string
	addr   *net.TCPAddr
	accept chan *streamConn // unbuffered: a dial waits for Accept
	done   chan struct{}    // closed by shut
	once   sync.Once
}

var _ net.Listener = (*listener)(nil)

// Accept waits for a dial or Close.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, errClosed
	}
}

// Close stops the listener; pending and later Accepts fail and dials to
// its address are refused.
func (l *listener) Close() error {
	l.n.mu.Lock()
	if l.n.mu.listeners[l.key] == l {
		delete(l.n.mu.listeners, l.key)
	}
	l.n.mu.Unlock()
	return l.shut()
}

// shut closes the listener without touching the Net.
func (l *listener) shut() error {
	err := errClosed
	l.once.Do(func() {
		close(l.done)
		err = nil
	})
	return err
}

func (l *listener) Addr() net.Addr { return l.addr }

// resetAll resets every stream in ps.
func resetAll(ps []*streamPair) {
	for _, p := range ps {
		p.reset()
	}
}

// drop forgets and resets a stream that was never handed over.
func (n *Net) drop(p *streamPair) {
	n.mu.Lock()
	delete(n.mu.streams, p)
	n.mu.Unlock()
	p.reset()
}

// closed notes that one end of p closed and forgets p once both have.
func (n *Net) closed(p *streamPair) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.open--; p.open == 0 {
		delete(n.mu.streams, p)
	}
}

// streamPair is the two ends of one stream.
type streamPair struct {
	a    *streamConn // the dialer's end
	b    *streamConn // the listener's end
	open int         // ends not closed yet; guarded by Net.mu
	seq  uint64      // in the order streams opened
}

// reset breaks the stream at once, dropping data in flight, like a TCP
// reset: every later call on either end fails with a connection reset.
func (p *streamPair) reset() {
	p.a.tx.reset()
	p.b.tx.reset()
}

// chunk is the data of one Write, readable from due on.
type chunk struct {
	data    []byte
	due     time.Time
	wire    time.Duration // its link delay
	resends []time.Time   // when it is sent again, if segments were lost
}

// half is one direction of a stream: the bytes one end wrote that the
// other has not read yet. Safe for concurrent use.
type half struct {
	heldSince time.Time // when a black-holing cut began to hold it; guarded by Net.mu
	mu        struct {
		sync.Mutex
		chunks  []chunk
		queued  int           // bytes in chunks
		last    time.Time     // due time of the last chunk written
		wclosed bool          // the writer closed: io.EOF after the data
		rclosed bool          // the reader closed: writes fail
		reset   bool          // the stream was reset
		held    bool          // a black-holing cut holds it: nothing is read
		changed chan struct{} // closed and replaced on every change
	}
}

func newHalf() *half {
	h := &half{}
	h.mu.changed = make(chan struct{})
	return h
}

// waitFor is what a blocked read or write waits for: a change, or the
// time the next chunk falls due.
type waitFor struct {
	changed <-chan struct{}
	due     time.Time
}

func (h *half) changedLocked() {
	close(h.mu.changed)
	h.mu.changed = make(chan struct{})
}

// read copies due bytes into b; with none it says what to wait for.
func (h *half) read(b []byte) (int, waitFor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.mu.reset:
		return 0, waitFor{}, errReset
	case h.mu.rclosed:
		return 0, waitFor{}, errClosed
	}
	if h.mu.held {
		return 0, waitFor{changed: h.mu.changed}, nil
	}
	n, now := 0, time.Now()
	for n < len(b) && len(h.mu.chunks) > 0 && !h.mu.chunks[0].due.After(now) {
		head := &h.mu.chunks[0]
		k := copy(b[n:], head.data)
		n, head.data, h.mu.queued = n+k, head.data[k:], h.mu.queued-k
		if len(head.data) == 0 {
			h.mu.chunks[0] = chunk{}
			h.mu.chunks = h.mu.chunks[1:]
		}
	}
	switch {
	case n > 0:
		h.changedLocked() // wakes writers waiting for room
		return n, waitFor{}, nil
	case len(h.mu.chunks) == 0 && h.mu.wclosed:
		return 0, waitFor{}, io.EOF
	}
	w := waitFor{changed: h.mu.changed}
	if len(h.mu.chunks) > 0 {
		w.due = h.mu.chunks[0].due
	}
	return 0, w, nil
}

// write queues a copy of b, due after delay but never before earlier
// data. It reports false, with what to wait for, when there is no room.
func (h *half) write(b []byte, s sending) (bool, waitFor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.mu.reset:
		return false, waitFor{}, errReset
	case h.mu.wclosed:
		return false, waitFor{}, errClosed
	case h.mu.rclosed:
		return false, waitFor{}, errBrokenPipe
	case len(b) == 0:
		return true, waitFor{}, nil
	case h.mu.queued > 0 && h.mu.queued+len(b) > streamQueueBytes:
		return false, waitFor{changed: h.mu.changed}, nil
	}
	now := time.Now()
	due := now.Add(s.delay())
	if due.Before(h.mu.last) {
		due = h.mu.last
	}
	h.mu.last = due
	c := chunk{data: bytes.Clone(b), due: due, wire: s.wire}
	at := now
	for _, w := range s.waits {
		at = at.Add(w)
		c.resends = append(c.resends, at)
	}
	h.mu.chunks = append(h.mu.chunks, c)
	h.mu.queued += len(b)
	h.changedLocked()
	return true, waitFor{}, nil
}

// closeWrite ends the direction: the reader gets io.EOF after the data.
func (h *half) closeWrite() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.wclosed = true
	h.changedLocked()
}

// closeRead drops unread data and makes later writes fail.
func (h *half) closeRead() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.rclosed = true
	h.mu.chunks, h.mu.queued = nil, 0
	h.changedLocked()
}

// inFlight reports whether written data is still unread.
func (h *half) inFlight() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.queued > 0
}

// hold stops (on) or resumes (off) delivery; on resuming, nothing held
// is read before release, and later writes keep their order after it.
func (h *half) hold(on bool, release time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.held = on
	if !on {
		for i := range h.mu.chunks {
			if h.mu.chunks[i].due.Before(release) {
				h.mu.chunks[i].due = release
			}
		}
		if len(h.mu.chunks) > 0 && h.mu.last.Before(release) {
			h.mu.last = release
		}
	}
	h.changedLocked()
}

func (h *half) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.reset = true
	h.mu.chunks, h.mu.queued = nil, 0
	h.changedLocked()
}

// streamConn is one end of a stream. Each Write becomes readable at the
// peer after its own sampled delay, in order. Write returns once the data
// is queued, as TCP returns once data is in the socket buffer, and blocks
// only while streamQueueBytes are unread. Close still lets the peer read
// what was written, then io.EOF. Safe for concurrent use.
type streamConn struct {
	n        *Net
	pair     *streamPair
	localIP  string
	local    *net.TCPAddr
	remote   *net.TCPAddr
	rx, tx   *half // what this end reads, what it writes
	rdl, wdl *deadline
	once     sync.Once
}

var _ net.Conn = (*streamConn)(nil)

// Read waits until written bytes are due, the peer closes, the read
// deadline passes or the conn closes.
func (c *streamConn) Read(b []byte) (int, error) {
	for {
		if c.rdl.expired() {
			return 0, timeoutErr("read", c.remote)
		}
		n, w, err := c.rx.read(b)
		if err != nil || n > 0 || len(b) == 0 {
			return n, err
		}
		c.wait(w, c.rdl)
	}
}

// Write queues a copy of b for the peer. It blocks only while the queue is
// full, until there is room, the write deadline passes or the conn closes.
func (c *streamConn) Write(b []byte) (int, error) {
	sent := c.n.streamDelay(c.localIP, c.peerIP(), len(b), c.tx.inFlight())
	for {
		if c.wdl.expired() {
			return 0, timeoutErr("write", c.remote)
		}
		ok, w, err := c.tx.write(b, sent)
		if err != nil {
			return 0, err
		}
		if ok {
			if len(b) > 0 {
				c.n.count(func(s *NetStats) { s.StreamWrites++; s.StreamBytes += uint64(len(b)) })
			}
			return len(b), nil
		}
		c.wait(w, c.wdl)
	}
}

// wait blocks until w or the deadline d.
func (c *streamConn) wait(w waitFor, d *deadline) {
	var due <-chan time.Time
	if !w.due.IsZero() {
		t := time.NewTimer(time.Until(w.due))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-w.changed:
	case <-due:
	case <-d.wait():
	}
}

// Close closes this end: its pending and later calls fail, unread data
// sent to it is dropped, and the peer reads what this end wrote, then
// io.EOF. Later calls return an error.
func (c *streamConn) Close() error {
	err := errClosed
	c.once.Do(func() {
		c.tx.closeWrite()
		c.rx.closeRead()
		c.n.closed(c.pair)
		err = nil
	})
	return err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

func (c *streamConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *streamConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *streamConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable deadline whose passing closes a channel, as in
// net.Pipe. Safe for concurrent use.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed
}

func newDeadline() *deadline {
	return &deadline{cancel: make(chan struct{})}
}

// set moves the deadline to t; the zero t means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) expired() bool {
	return isClosed(d.wait())
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
