package simnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/internal/oneproc"
)

func TestMain(m *testing.M) {
	oneproc.UnderRace()
	goleak.VerifyTestMain(m)
}

const (
	ipA  = "127.0.10.1"
	ipB  = "127.0.10.2"
	ipC  = "127.0.10.3"
	ipD  = "127.0.10.4"
	port = "7946"
)

// listenPackets opens a packet conn on port of each ip and closes them at
// the end of the test.
func listenPackets(t *testing.T, n *Net, ips ...string) map[string]net.PacketConn {
	t.Helper()
	pcs := make(map[string]net.PacketConn)
	for _, ip := range ips {
		pc, err := n.Host(ip).ListenPacket(ip + ":" + port)
		if err != nil {
			t.Fatalf("ListenPacket(%s): %v", ip, err)
		}
		t.Cleanup(func() { pc.Close() })
		pcs[ip] = pc
	}
	return pcs
}

// recv reads one packet, waiting at most wait of virtual time.
func recv(pc net.PacketConn, wait time.Duration) (string, net.Addr, bool) {
	pc.SetReadDeadline(time.Now().Add(wait))
	defer pc.SetReadDeadline(time.Time{})
	buf := make([]byte, 2048)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return "", nil, false
	}
	return string(buf[:n]), from, true
}

// packetArrives sends one packet from -> to and reports whether it arrived.
func packetArrives(t *testing.T, from, to net.PacketConn) bool {
	t.Helper()
	if _, err := from.WriteTo([]byte("ping"), to.LocalAddr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	_, _, ok := recv(to, time.Millisecond)
	return ok
}

func TestPacketDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB)
		buf := []byte("hello")
		if _, err := pcs[ipA].WriteTo(buf, pcs[ipB].LocalAddr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		buf[0] = 'J' // the network must have copied it
		got, from, ok := recv(pcs[ipB], time.Second)
		if !ok || got != "hello" {
			t.Fatalf("received %q, %v; want %q, true", got, ok, "hello")
		}
		if ua, ok := from.(*net.UDPAddr); !ok || ua.String() != ipA+":"+port {
			t.Errorf("sender address = %#v; want *net.UDPAddr %s:%s", from, ipA, port)
		}
		if got := pcs[ipB].LocalAddr().String(); got != ipB+":"+port {
			t.Errorf("LocalAddr = %s; want %s:%s", got, ipB, port)
		}
		want := NetStats{PacketsSent: 1, PacketBytes: 5, PacketsDelivered: 1}
		if got := n.Stats(); got != want {
			t.Errorf("Stats = %+v; want %+v", got, want)
		}
	})
}

func TestLoss(t *testing.T) {
	tests := []struct {
		name          string
		loss          float64
		wantDelivered uint64
	}{
		{"no loss", 0, 100},
		{"total loss", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(1)
				pcs := listenPackets(t, n, ipA, ipB)
				n.SetLoss(tt.loss)
				for range 100 {
					pcs[ipA].WriteTo([]byte("x"), pcs[ipB].LocalAddr())
				}
				want := NetStats{PacketsSent: 100, PacketBytes: 100, PacketsDelivered: tt.wantDelivered,
					PacketsDropped: 100 - tt.wantDelivered}
				if got := n.Stats(); got != want {
					t.Errorf("Stats = %+v; want %+v", got, want)
				}
			})
		})
	}
}

// lossPattern sends 200 numbered packets at loss 0.5 and returns which
// arrived.
func lossPattern(t *testing.T, seed int64) []bool {
	n := New(seed)
	pcs := listenPackets(t, n, ipA, ipB)
	n.SetLoss(0.5)
	for i := range 200 {
		pcs[ipA].WriteTo(fmt.Appendf(nil, "%d", i), pcs[ipB].LocalAddr())
	}
	got := make([]bool, 200)
	for {
		msg, _, ok := recv(pcs[ipB], time.Millisecond)
		if !ok {
			return got
		}
		var i int
		fmt.Sscan(msg, &i)
		got[i] = true
	}
}

func TestLossIsSeeded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, again, other := lossPattern(t, 7), lossPattern(t, 7), lossPattern(t, 8)
		if !slices.Equal(first, again) {
			t.Errorf("seed 7 gave two drop patterns:\n%v\n%v", first, again)
		}
		if slices.Equal(first, other) {
			t.Errorf("seeds 7 and 8 gave the same drop pattern %v", first)
		}
		if !slices.Contains(first, true) || !slices.Contains(first, false) {
			t.Errorf("loss 0.5 pattern = %v; want some drops and some arrivals", first)
		}
	})
}

func TestLinkLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB, ipC)
		steps := []struct {
			name     string
			change   func()
			from, to string
			want     bool
		}{
			{"override drops", func() { n.SetLinkLoss(ipA, ipB, 1) }, ipA, ipB, false},
			{"other direction", func() {}, ipB, ipA, true},
			{"other link", func() {}, ipA, ipC, true},
			{"override removed", func() { n.SetLinkLoss(ipA, ipB, -1) }, ipA, ipB, true},
			{"global loss", func() { n.SetLoss(1) }, ipA, ipB, false},
			{"override beats global", func() { n.SetLinkLoss(ipA, ipB, 0) }, ipA, ipB, true},
		}
		for _, s := range steps {
			s.change()
			if got := packetArrives(t, pcs[s.from], pcs[s.to]); got != s.want {
				t.Errorf("%s: %s -> %s arrived = %v; want %v", s.name, s.from, s.to, got, s.want)
			}
		}
	})
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lo, hi = 10 * time.Millisecond, 50 * time.Millisecond
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB)
		n.SetDelay(lo, hi)
		start := time.Now()
		for range 50 {
			pcs[ipA].WriteTo([]byte("x"), pcs[ipB].LocalAddr())
		}
		arrivals := make(map[time.Duration]bool)
		for i := range 50 {
			if _, _, ok := recv(pcs[ipB], time.Second); !ok {
				t.Fatalf("packet %d did not arrive", i)
			}
			took := time.Since(start)
			if took < lo || took > hi {
				t.Errorf("packet %d arrived after %v; want within [%v, %v]", i, took, lo, hi)
			}
			arrivals[took] = true
		}
		if len(arrivals) < 2 {
			t.Errorf("all packets arrived after the same delay %v; want sampled delays", arrivals)
		}
	})
}

// acceptAll accepts and closes streams on ip's port until the test ends.
func acceptAll(t *testing.T, n *Net, ips ...string) {
	t.Helper()
	for _, ip := range ips {
		ln, err := n.Host(ip).Listen(ip + ":" + port)
		if err != nil {
			t.Fatalf("Listen(%s): %v", ip, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

// dialWorks dials from -> to's port and reports whether a stream opened.
func dialWorks(t *testing.T, n *Net, from, to string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := n.Host(from).Dial(ctx, to+":"+port)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("Dial %s -> %s: %v; want a timeout", from, to, err)
		}
		return false
	}
	c.Close()
	return true
}

func TestPartitionAndBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB, ipC, ipD)
		acceptAll(t, n, ipA, ipB, ipC, ipD)
		type route struct {
			from, to     string
			packet, dial bool
		}
		steps := []struct {
			name   string
			change func()
			routes []route
		}{
			{"partition", func() { n.Partition([]string{ipA, ipB}, []string{ipC}) }, []route{
				{ipA, ipB, true, true}, {ipB, ipA, true, true}, // same side
				{ipA, ipC, false, false}, {ipC, ipA, false, false}, {ipB, ipC, false, false},
				{ipD, ipA, true, true}, {ipD, ipC, true, true}, // bridge
				{ipA, ipD, true, true}, {ipC, ipD, true, true},
			}},
			{"heal partition", n.Heal, []route{
				{ipA, ipC, true, true}, {ipC, ipA, true, true},
			}},
			{"block", func() { n.Block(ipA, ipB) }, []route{
				{ipA, ipB, false, false}, {ipB, ipA, true, false}, {ipA, ipC, true, true},
			}},
			{"partition replaces block", func() { n.Partition([]string{ipC}) }, []route{
				{ipA, ipB, true, true}, {ipA, ipC, true, true},
			}},
			{"heal block", func() { n.Block(ipA, ipB); n.Heal() }, []route{
				{ipA, ipB, true, true}, {ipB, ipA, true, true},
			}},
		}
		for _, s := range steps {
			s.change()
			for _, r := range s.routes {
				if got := packetArrives(t, pcs[r.from], pcs[r.to]); got != r.packet {
					t.Errorf("%s: packet %s -> %s arrived = %v; want %v", s.name, r.from, r.to, got, r.packet)
				}
				if got := dialWorks(t, n, r.from, r.to); got != r.dial {
					t.Errorf("%s: dial %s -> %s worked = %v; want %v", s.name, r.from, r.to, got, r.dial)
				}
			}
		}
	})
}

func TestPartitionDropsPacketsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB)
		n.SetDelay(10*time.Millisecond, 10*time.Millisecond)
		pcs[ipA].WriteTo([]byte("x"), pcs[ipB].LocalAddr())
		time.Sleep(5 * time.Millisecond)
		n.Partition([]string{ipA}, []string{ipB})
		if _, _, ok := recv(pcs[ipB], time.Second); ok {
			t.Errorf("packet sent before the partition arrived after it; want dropped")
		}
		want := NetStats{PacketsSent: 1, PacketBytes: 1, PacketsDropped: 1}
		if got := n.Stats(); got != want {
			t.Errorf("Stats = %+v; want %+v", got, want)
		}
	})
}

func TestFullQueueDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		pcs := listenPackets(t, n, ipA, ipB)
		const extra = 76
		var size uint64
		for i := range packetQueueLen + extra {
			b := fmt.Appendf(nil, "%d", i)
			size += uint64(len(b))
			if _, err := pcs[ipA].WriteTo(b, pcs[ipB].LocalAddr()); err != nil {
				t.Fatalf("WriteTo %d: %v", i, err)
			}
		}
		want := NetStats{PacketsSent: packetQueueLen + extra, PacketBytes: size, PacketsDelivered: packetQueueLen,
			PacketsDropped: extra}
		if got := n.Stats(); got != want {
			t.Errorf("Stats = %+v; want %+v", got, want)
		}
		for i := range packetQueueLen {
			if got, _, _ := recv(pcs[ipB], time.Millisecond); got != fmt.Sprint(i) {
				t.Fatalf("packet %d = %q; want %q", i, got, fmt.Sprint(i))
			}
		}
		if got, _, ok := recv(pcs[ipB], time.Millisecond); ok {
			t.Errorf("read %q after the queue drained; want nothing", got)
		}
	})
}

func TestDialFailures(t *testing.T) {
	tests := []struct {
		name        string
		listen      bool
		setup       func(n *Net)
		wantTimeout bool
		wantTook    time.Duration
		wantIs      error
	}{
		{"partition", true, func(n *Net) { n.Partition([]string{ipA}, []string{ipB}) },
			true, 2 * time.Second, context.DeadlineExceeded},
		{"blocked reply path", true, func(n *Net) { n.Block(ipB, ipA) },
			true, 2 * time.Second, context.DeadlineExceeded},
		{"host down", true, func(n *Net) { n.SetDown(ipB, true) },
			true, 2 * time.Second, context.DeadlineExceeded},
		{"not accepted", true, func(*Net) {}, true, 2 * time.Second, context.DeadlineExceeded},
		{"nothing listens", false, func(*Net) {}, false, 0, syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := New(1)
				if tt.listen {
					ln, err := n.Host(ipB).Listen(ipB + ":" + port)
					if err != nil {
						t.Fatalf("Listen: %v", err)
					}
					defer ln.Close() // never accepts
				}
				tt.setup(n)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				start := time.Now()
				c, err := n.Host(ipA).Dial(ctx, ipB+":"+port)
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded; want an error")
				}
				if took := time.Since(start); took != tt.wantTook {
					t.Errorf("Dial failed after %v; want %v", took, tt.wantTook)
				}
				var ne net.Error
				if !errors.As(err, &ne) || ne.Timeout() != tt.wantTimeout {
					t.Errorf("Dial error %v: Timeout() = %v; want a net.Error with Timeout() %v",
						err, ne != nil && ne.Timeout(), tt.wantTimeout)
				}
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("Dial error %v; want one matching %v", err, tt.wantIs)
				}
				if got := n.Stats(); got.DialsFailed != 1 || got.StreamsOpened != 0 {
					t.Errorf("Stats = %+v; want DialsFailed 1, StreamsOpened 0", got)
				}
			})
		})
	}
}
