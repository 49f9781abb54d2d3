package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// rpcConn returns a live connection to the member named name, dialing one
// if there is none. Concurrent callers share one dial.
func (n *Node) rpcConn(ctx context.Context, name string) (*conn, error) {
	for {
		n.rpc.mu.Lock()
		if c := n.rpc.conns[name]; c != nil && !c.isClosed() {
			n.rpc.mu.Unlock()
			return c, nil
		}
		wait, busy := n.rpc.dialing[name]
		if busy {
			n.rpc.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		// The dial ends early if name fails or leaves meanwhile
		// (dropConns, which takes the same lock): a member that stopped
		// answering (paused, cut off) drops the dial's packets, and its
		// callers should learn of it from the failure detector, not from
		// the handshake timeout.
		wait = make(chan struct{})
		dctx, cancel := context.WithCancel(ctx)
		n.rpc.dialing[name] = wait
		if n.rpc.dialCancel == nil {
			n.rpc.dialCancel = map[string]context.CancelFunc{}
		}
		n.rpc.dialCancel[name] = cancel
		n.rpc.mu.Unlock()
		c, err := n.dialMember(dctx, name)
		n.rpc.mu.Lock()
		delete(n.rpc.dialing, name)
		delete(n.rpc.dialCancel, name)
		close(wait)
		n.rpc.mu.Unlock()
		if err != nil && dctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w: %s failed or left while it was dialed", ErrConnLost, name)
		}
		cancel()
		return c, err
	}
}

func (n *Node) dialMember(ctx context.Context, name string) (*conn, error) {
	addr, ok := n.rpcAddr(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	c, err := n.dialRPC(ctx, addr)
	if err != nil {
		return nil, errtext.Errorf("cluster: ", "cluster: connect to %s at %s: %w", name, addr, err)
	}
	if c.peer != name {
		c.close(fmt.Errorf("cluster: %s answered as %s", addr, c.peer))
		return nil, fmt.Errorf("cluster: connect to %s at %s: the node there is %s", name, addr, c.peer)
	}
	return c, nil
}

// dialRPC opens, authenticates and registers a connection to addr.
// The dial and the handshake end when ctx does, the node closes
// (ErrClosed), or after handshakeTimeout: a peer cut off by a partition
// drops the dial's packets without a refusal, and a call that waits for
// a reply as long as its ctx (a lock's coordinator serves its waiter for
// the whole wait) must not spend all of it on a dial that cannot end
// otherwise.
func (n *Node) dialRPC(parent context.Context, addr string) (*conn, error) {
	ctx, cancel := context.WithDeadline(parent, handshakeDeadline(parent))
	defer cancel()
	defer context.AfterFunc(n.baseCtx, cancel)()
	nc, err := n.cfg.Network.Dial(ctx, addr)
	if err != nil {
		if parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", handshakeTimeout)
		}
		return nil, n.dialErr(err)
	}
	nc.SetDeadline(handshakeDeadline(ctx))
	abort := context.AfterFunc(ctx, func() { nc.Close() }) // ends the handshake's reads and writes
	var peer wire.Hello
	var s *sealer
	_, err = nc.Write([]byte{rpcMarker})
	if err == nil {
		peer, s, err = n.hs.dial(nc)
	}
	if !abort() && err == nil { // nc is closed, or closing
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, n.dialErr(err)
	}
	nc.SetDeadline(time.Time{})
	return n.startConn(nc, peer.Name, s)
}

// dialErr is ErrClosed once the node is closed, else err.
func (n *Node) dialErr(err error) error {
	if n.closed.Load() {
		return ErrClosed
	}
	return err
}

// acceptRPC serves an inbound RPC stream whose marker byte was read. The
// transport calls it only once New has finished, so the node is whole.
// The transport set the deadline at accept: one deadline bounds the
// connection from accept to the end of the handshake.
func (n *Node) acceptRPC(nc net.Conn, authenticated func() bool) {
	peer, s, err := n.hs.accept(nc)
	if err != nil {
		n.logRefused(nc, peer.Name, err)
		nc.Close()
		return
	}
	if !authenticated() { // evicted, or the node is closing
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	n.startConn(nc, peer.Name, s)
}

func handshakeDeadline(ctx context.Context) time.Time {
	d := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}
