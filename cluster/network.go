package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Network is the one seam between a node and the wire: the packets and
// streams that gossip needs plus the streams that RPC needs. Each node owns
// its own Network value; addresses are "host:port" strings.
//
// A node listens for packets and streams on the same address (like
// memberlist's own transport: UDP and TCP on one port), and multiplexes
// gossip streams and RPC streams on that one stream listener.
//
// The default, used when Config.Network is nil, is real UDP and TCP sockets.
// The simulation (package sim) supplies an in-memory implementation with
// loss, delay, partitions and crashes.
//
// Implementations must be safe for concurrent use. A closed PacketConn or
// Listener must make pending ReadFrom/Accept calls return an error.
type Network interface {
	// ListenPacket opens the datagram endpoint at addr. A port of 0 is
	// not passed here: Listen picks the port first.
	ListenPacket(addr string) (net.PacketConn, error)
	// Listen opens the stream endpoint at addr; port 0 picks a free port.
	Listen(addr string) (net.Listener, error)
	// Dial opens a stream to addr. It gives up when ctx is done.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// SocketNetwork is the Network of real UDP and TCP sockets. The zero value
// is ready to use.
type SocketNetwork struct{}

var _ Network = SocketNetwork{}

// ListenPacket implements Network with a UDP socket.
func (SocketNetwork) ListenPacket(addr string) (net.PacketConn, error) {
	return net.ListenPacket("udp", addr)
}

// Listen implements Network with a TCP listener.
func (SocketNetwork) Listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// Dial implements Network with a TCP connection.
func (SocketNetwork) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// listenPair opens the stream and packet endpoints on one address. With port
// 0 it lets the stream listener pick a port and then binds packets to the
// same port, retrying a few times if that port is taken for packets.
func listenPair(nw Network, addr string) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	tries := 1
	if port == "0" {
		tries = 10
	}
	var lastErr error
	for range tries {
		ln, err := nw.Listen(addr)
		if err != nil {
			return nil, nil, err
		}
		_, bound, err := net.SplitHostPort(ln.Addr().String())
		if err != nil {
			ln.Close()
			return nil, nil, err
		}
		pc, err := nw.ListenPacket(net.JoinHostPort(host, bound))
		if err == nil {
			return ln, pc, nil
		}
		ln.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no port free for both streams and packets: %w", lastErr)
}

// splitAddr parses "host:port" with a numeric port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("port must be a number from 0 to 65535")
	}
	return host, port, nil
}
