package simnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// connect opens a stream from host from to a new listener on host to, and
// closes both ends and the listener at the end of the test.
func connect(t *testing.T, n *Net, from, to string) (client, server net.Conn) {
	t.Helper()
	ln, err := n.Host(to).Listen(to + ":0")
	if err != nil {
		t.Fatalf("Listen(%s): %v", to, err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	client, err = n.Host(from).Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatalf("Dial %s -> %s: %v", from, to, err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// transfer writes msg on w and reads it back from r, failing after a
// virtual second.
func transfer(w, r net.Conn, msg string) error {
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	r.SetReadDeadline(time.Now().Add(time.Second))
	defer r.SetReadDeadline(time.Time{})
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q; want %q", buf, msg)
	}
	return nil
}

func TestStreamAddressesAndData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		client, server := connect(t, n, ipA, ipB)
		local, ok := client.LocalAddr().(*net.TCPAddr)
		if !ok || local.IP.String() != ipA || local.Port < firstEphemeralPort {
			t.Errorf("client LocalAddr = %#v; want *net.TCPAddr %s:>=%d", client.LocalAddr(), ipA, firstEphemeralPort)
		}
		if got, want := server.RemoteAddr().String(), client.LocalAddr().String(); got != want {
			t.Errorf("server RemoteAddr = %s; want %s", got, want)
		}
		if got, want := client.RemoteAddr().String(), server.LocalAddr().String(); got != want {
			t.Errorf("client RemoteAddr = %s; want %s", got, want)
		}
		if err := transfer(client, server, "request"); err != nil {
			t.Errorf("client -> server: %v", err)
		}
		if err := transfer(server, client, "response"); err != nil {
			t.Errorf("server -> client: %v", err)
		}
		if got := n.Stats(); got.StreamsOpened != 1 {
			t.Errorf("StreamsOpened = %d; want 1", got.StreamsOpened)
		}
		// transfer writes each message once: two writes, 15 bytes.
		if got := n.Stats(); got.StreamWrites != 2 || got.StreamBytes != uint64(len("request")+len("response")) {
			t.Errorf("StreamWrites = %d, StreamBytes = %d; want 2, 15", got.StreamWrites, got.StreamBytes)
		}
	})
}

func TestPartitionResetsCrossingStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		crossC, crossS := connect(t, n, ipA, ipC)
		sameC, sameS := connect(t, n, ipA, ipB)
		read := make(chan error, 1)
		go func() { // a read blocked when the cut comes
			_, err := crossS.Read(make([]byte, 1))
			read <- err
		}()
		synctest.Wait()
		n.Partition([]string{ipA, ipB}, []string{ipC})
		if err := <-read; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("blocked Read across the cut: %v; want a connection reset", err)
		}
		if _, err := crossC.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Write across the cut: %v; want a connection reset", err)
		}
		if err := transfer(sameC, sameS, "still here"); err != nil {
			t.Errorf("stream on one side of the cut: %v; want it open", err)
		}
	})
}

func TestSetDownAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB)
		ln, err := n.Host(ipB).Listen(ipB + ":" + port)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		defer ln.Close()
		client, _ := connect(t, n, ipA, ipB)
		errs := make(chan error, 3)
		go func() { _, err := ln.Accept(); errs <- err }()
		go func() { _, _, err := pcs[ipB].ReadFrom(make([]byte, 10)); errs <- err }()
		go func() { _, err := client.Read(make([]byte, 10)); errs <- err }()
		synctest.Wait()

		n.SetDown(ipB, true)
		for range 3 {
			if err := <-errs; err == nil {
				t.Errorf("blocked Accept, ReadFrom or Read returned no error after the crash")
			}
		}
		before := n.Stats().PacketsDropped
		pcs[ipA].WriteTo([]byte("x"), pcs[ipB].LocalAddr())
		if got := n.Stats().PacketsDropped - before; got != 1 {
			t.Errorf("packet to the down host: %d dropped; want 1", got)
		}
		for _, listen := range []func() (io.Closer, error){
			func() (io.Closer, error) { return n.Host(ipB).Listen(ipB + ":" + port) },
			func() (io.Closer, error) { return n.Host(ipB).ListenPacket(ipB + ":" + port) },
		} {
			if c, err := listen(); err == nil {
				c.Close()
				t.Errorf("listening on a down host worked; want an error")
			}
		}

		n.SetDown(ipB, false)
		pcs[ipB] = listenPackets(t, n, ipB)[ipB]
		acceptAll(t, n, ipB)
		if !packetArrives(t, pcs[ipB], pcs[ipA]) {
			t.Errorf("packet from the restarted host did not arrive")
		}
		if !dialWorks(t, n, ipA, ipB) {
			t.Errorf("dial to the restarted host failed")
		}
	})
}

func TestStreamDelayKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lo, hi = time.Millisecond, 30 * time.Millisecond
		n := New(1)
		n.SetDelay(lo, hi)
		client, server := connect(t, n, ipA, ipB)
		start := time.Now()
		var want bytes.Buffer
		for i := range 20 {
			msg := fmt.Appendf(nil, "message %02d;", i)
			want.Write(msg)
			if _, err := client.Write(msg); err != nil {
				t.Fatalf("Write %d: %v", i, err)
			}
		}
		client.Close() // what was written must still arrive
		first := make([]byte, 1)
		if _, err := io.ReadFull(server, first); err != nil {
			t.Fatalf("Read: %v", err)
		}
		if took := time.Since(start); took < lo || took > hi {
			t.Errorf("first byte arrived after %v; want within [%v, %v]", took, lo, hi)
		}
		rest, err := io.ReadAll(server)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if got := string(first) + string(rest); got != want.String() {
			t.Errorf("read %q; want %q", got, want.String())
		}
	})
}

func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA)
		client, _ := connect(t, n, ipA, ipB)
		tests := []struct {
			name string
			set  func(time.Time) error
			op   func() error
		}{
			{"packet read", pcs[ipA].SetReadDeadline, func() error {
				_, _, err := pcs[ipA].ReadFrom(make([]byte, 1))
				return err
			}},
			{"stream read", client.SetReadDeadline, func() error {
				_, err := client.Read(make([]byte, 1))
				return err
			}},
			{"stream write, queue full", client.SetWriteDeadline, func() error {
				big := make([]byte, streamQueueBytes)
				for { // nobody reads: fills the queue, then blocks
					if _, err := client.Write(big); err != nil {
						return err
					}
				}
			}},
		}
		for _, tt := range tests {
			start := time.Now()
			tt.set(start.Add(100 * time.Millisecond))
			err := tt.op()
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: %v; want a net.Error timeout", tt.name, err)
			}
			if took := time.Since(start); took != 100*time.Millisecond {
				t.Errorf("%s: failed after %v; want 100ms", tt.name, took)
			}
			tt.set(time.Time{})
		}
	})
}

func TestCloseTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA)
		client, server := connect(t, n, ipA, ipB)
		ln, err := n.Host(ipA).Listen(ipA + ":0")
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		for name, c := range map[string]io.Closer{
			"packet conn": pcs[ipA], "client": client, "server": server, "listener": ln,
		} {
			if err := c.Close(); err != nil {
				t.Errorf("%s: first Close: %v", name, err)
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s: second Close: %v; want net.ErrClosed", name, err)
			}
		}
	})
}

func TestListenErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		h := n.Host(ipA)
		if _, err := h.Listen(ipA + ":" + port); err != nil {
			t.Fatalf("Listen: %v", err)
		}
		if _, err := h.ListenPacket(ipA + ":" + port); err != nil {
			t.Fatalf("ListenPacket on the stream port: %v", err)
		}
		tests := []struct {
			name   string
			listen func(string) (io.Closer, error)
			addr   string
		}{
			{"stream port in use", asCloser(h.Listen), ipA + ":" + port},
			{"packet port in use", asCloser(h.ListenPacket), ipA + ":" + port},
			{"other host", asCloser(h.Listen), ipB + ":1"},
			{"no port", asCloser(h.Listen), ipA},
			{"bad port", asCloser(h.ListenPacket), ipA + ":http"},
			{"not an ip", asCloser(n.Host("node-1").Listen), "node-1:1"},
		}
		for _, tt := range tests {
			if c, err := tt.listen(tt.addr); err == nil {
				c.Close()
				t.Errorf("%s: listening on %s worked; want an error", tt.name, tt.addr)
			}
		}
		n.mu.Lock()
		open := len(n.mu.listeners) + len(n.mu.packets)
		n.mu.Unlock()
		if open != 2 {
			t.Errorf("%d endpoints open; want 2", open)
		}
		n.SetDown(ipA, true) // closes both
	})
}

func asCloser[C io.Closer](listen func(string) (C, error)) func(string) (io.Closer, error) {
	return func(addr string) (io.Closer, error) { return listen(addr) }
}

// TestChaos runs packets and echo streams between four hosts while links
// are cut and healed, and checks that the counters add up and that every
// goroutine ends.
func TestChaos(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(3)
		n.SetLoss(0.1)
		ips := []string{ipA, ipB, ipC, ipD}
		pcs := listenPackets(t, n, ips...)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var closers []io.Closer
		for _, ip := range ips {
			ln, err := n.Host(ip).Listen(ip + ":" + port)
			if err != nil {
				t.Fatalf("Listen(%s): %v", ip, err)
			}
			closers = append(closers, ln, pcs[ip])
			wg.Go(func() { serveEcho(ln, &wg) })
			wg.Go(func() { drainPackets(pcs[ip]) })
			wg.Go(func() { talk(ctx, n, pcs[ip], ips) })
		}
		changes := []func(){
			func() { n.Partition([]string{ipA, ipB}, []string{ipC, ipD}) },
			func() { n.Block(ipA, ipC); n.SetDelay(time.Millisecond, 20*time.Millisecond) },
			n.Heal,
			func() { n.SetDelay(0, 0) },
		}
		for i := 0; ctx.Err() == nil; i++ {
			changes[i%len(changes)]()
			time.Sleep(70 * time.Millisecond)
		}
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
		time.Sleep(time.Second) // packets in flight land or drop
		s := n.Stats()
		if s.PacketsSent != s.PacketsDelivered+s.PacketsDropped {
			t.Errorf("Stats = %+v; want PacketsSent = PacketsDelivered + PacketsDropped", s)
		}
		if s.PacketsDelivered == 0 || s.PacketsDropped == 0 || s.StreamsOpened == 0 || s.DialsFailed == 0 {
			t.Errorf("Stats = %+v; want some of every outcome", s)
		}
	})
}

// serveEcho echoes every accepted stream until ln closes.
func serveEcho(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Go(func() {
			defer c.Close()
			io.Copy(c, c)
		})
	}
}

func drainPackets(pc net.PacketConn) {
	buf := make([]byte, 64)
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return
		}
	}
}

// talk sends a packet and an echoed stream message to each host in turn
// until ctx is done.
func talk(ctx context.Context, n *Net, pc net.PacketConn, ips []string) {
	h := n.Host(pc.LocalAddr().(*net.UDPAddr).IP.String())
	for i := 0; ctx.Err() == nil; i++ {
		to := ips[i%len(ips)] + ":" + port
		addr, _ := net.ResolveUDPAddr("udp", to)
		pc.WriteTo([]byte("ping"), addr)
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		if c, err := h.Dial(dctx, to); err == nil {
			c.SetDeadline(time.Now().Add(100 * time.Millisecond))
			c.Write([]byte("hello"))
			io.ReadFull(c, make([]byte, 5))
			c.Close()
		}
		cancel()
		time.Sleep(5 * time.Millisecond)
	}
}
