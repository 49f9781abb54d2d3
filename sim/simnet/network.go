// Package simnet is the simulation's in-memory network: hosts by IP
// address, each a cluster.Network (packets and streams), with loss,
// delay, partitions, one-way cuts and hosts that go down, all seeded.
// Streams behave as TCP would under those faults: a lost segment
// delays what follows it (retransmit.go), and a cut may hold a stream
// instead of resetting it (SetBlackHole). Package sim runs gossipsync
// nodes on it.
package simnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

const (
	packetQueueLen     = 1024    // packets a packet conn buffers; more are dropped
	streamQueueBytes   = 1 << 20 // bytes a stream buffers before Write blocks
	firstEphemeralPort = 40000   // first port handed out for dials and port 0
	lastPort           = 65535
)

var (
	errClosed     = fmt.Errorf("sim: %w", net.ErrClosed)
	errReset      = fmt.Errorf("sim: %w", syscall.ECONNRESET)
	errBrokenPipe = fmt.Errorf("sim: %w", syscall.EPIPE)
	errDown       = errors.New("sim: host is down")
	errInUse      = errors.New("sim: address already in use")
	errNoPorts    = errors.New("sim: no free port")
)

// NetStats counts what a Net did since New. Every packet that was sent
// is, once it has left the wire, counted as delivered or as dropped.
type NetStats struct {
	PacketsSent      uint64 // WriteTo calls on an open packet conn
	PacketBytes      uint64 // the bytes of those packets
	PacketsDelivered uint64 // packets put into a receiver's queue
	PacketsDropped   uint64 // packets lost: loss, cut link, full queue, down or absent receiver
	StreamsOpened    uint64 // dials whose stream a listener accepted
	DialsFailed      uint64 // dials refused or timed out
	StreamWrites     uint64 // Write calls on a stream that queued data for the peer
	StreamBytes      uint64 // the bytes they queued
	Retransmits      uint64 // stream segments lost on a lossy link and sent again
}

// link is one direction between two hosts.
type link struct{ from, to string }

// Net is an in-memory network shared by many hosts, each reached through
// the cluster.Network that Host returns. Packets may be lost, delayed,
// reordered and dropped when a receiver is slow; streams are reliable and
// ordered, like TCP: loss delays them by retransmissions, a crash resets
// them, and a partition either resets them or, with SetBlackHole, holds
// them until it heals (cuts.go).
//
// All random choices (loss, delay) come from one generator seeded by the
// seed given to New, so a run is repeatable up to the order in which the
// Go scheduler runs senders. Net uses only the time package for time,
// opens no socket and starts no goroutine of its own (only time.AfterFunc
// callbacks that deliver delayed packets and fire deadlines), so it works
// inside a testing/synctest bubble.
//
// A Net is safe for concurrent use.
type Net struct {
	mu struct {
		sync.Mutex
		rng       *rand.Rand
		loss      float64          // default loss probability of every link
		linkLoss  map[link]float64 // per-link overrides of loss
		minDelay  time.Duration
		maxDelay  time.Duration
		group     map[string]int         // partition group of each ip
		blocked   map[link]bool          // one-way cuts
		down      map[string]bool        // crashed hosts
		paused    map[string]int         // frozen hosts: count of pauses in force
		packets   map[string]*packetConn // open packet conns by "ip:port"
		listeners map[string]*listener   // open listeners by "ip:port"
		streams   map[*streamPair]struct{}
		blackHole bool   // cuts hold streams instead of resetting them
		streamSeq uint64 // streams opened
		nextPort  int
		stats     NetStats
	}
}

// New returns a network with no loss, no delay and every link up; seed
// seeds every random choice it makes.
func New(seed int64) *Net {
	n := &Net{}
	n.mu.rng = rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	n.mu.linkLoss = make(map[link]float64)
	n.mu.group = make(map[string]int)
	n.mu.blocked = make(map[link]bool)
	n.mu.down = make(map[string]bool)
	n.mu.paused = make(map[string]int)
	n.mu.packets = make(map[string]*packetConn)
	n.mu.listeners = make(map[string]*listener)
	n.mu.streams = make(map[*streamPair]struct{})
	n.mu.nextPort = firstEphemeralPort
	return n
}

// Host returns the endpoint of the host with the given ip, such as
// "127.0.10.1". It listens only on addresses with that ip, and its dials
// come from that ip. Hosts need no registration: any ip names one. An ip
// that does not parse gives an endpoint whose every call fails. The
// endpoint is safe for concurrent use.
func (n *Net) Host(ip string) cluster.Network {
	return &host{n: n, ip: canonIP(ip), addr: parseIP(ip)}
}

// SetLoss sets the probability, from 0 to 1, that a packet on any link
// without its own override is lost. Streams never lose data, but a lost
// segment delays a stream's Write, and all after it, by TCP's
// retransmission timeout (see retransmit.go).
func (n *Net) SetLoss(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.loss = clamp01(p)
	n.lossEndedLocked()
}

// SetLinkLoss sets the loss probability of packets from host ip from to
// host ip to, in that direction only. A negative p removes the override, so
// the link follows SetLoss again.
func (n *Net) SetLinkLoss(from, to string, p float64) {
	l := link{canonIP(from), canonIP(to)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p < 0 {
		delete(n.mu.linkLoss, l)
	} else {
		n.mu.linkLoss[l] = clamp01(p)
	}
	n.lossEndedLocked()
}

// SetDelay makes each packet, and each stream Write, take a delay drawn
// uniformly from [minDelay, maxDelay] before it arrives. A stream keeps its
// bytes in order: a Write never arrives before an earlier one. A negative
// minDelay counts as 0 and a maxDelay below minDelay as minDelay.
func (n *Net) SetDelay(minDelay, maxDelay time.Duration) {
	minDelay = max(minDelay, 0)
	maxDelay = max(maxDelay, minDelay)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.minDelay, n.mu.maxDelay = minDelay, maxDelay
}

// SetDown crashes (down true) or restarts (down false) the host with the
// given ip. A crash closes the host's listeners and packet conns, resets its
// streams, and cuts it off: nothing it sends arrives, nothing reaches it,
// and it cannot listen. After a restart it can listen again on the same
// addresses.
func (n *Net) SetDown(ip string, down bool) {
	ip = canonIP(ip)
	n.mu.Lock()
	if !down {
		delete(n.mu.down, ip)
		n.mu.Unlock()
		return
	}
	n.mu.down[ip] = true
	pcs, lns := n.takeHostLocked(ip)
	cut := n.cutStreamsLocked()
	n.mu.Unlock()
	for _, c := range pcs {
		c.shut()
	}
	for _, l := range lns {
		l.shut()
	}
	resetAll(cut)
}

// SetPaused freezes (paused true) or thaws (paused false) the host with
// the given ip, as for a stopped process: while frozen, nothing it sends
// arrives and nothing reaches it, its open streams are reset and dials
// to or from it time out, but its listeners and packet conns stay open.
// Pauses nest: a host thaws when every SetPaused(ip, true) was matched
// by a SetPaused(ip, false). The freeze is separate from Partition,
// Block and Heal: a Heal does not thaw a paused host.
func (n *Net) SetPaused(ip string, paused bool) {
	ip = canonIP(ip)
	n.mu.Lock()
	if !paused {
		if n.mu.paused[ip]--; n.mu.paused[ip] <= 0 {
			delete(n.mu.paused, ip)
		}
		n.mu.Unlock()
		return
	}
	n.mu.paused[ip]++
	cut := n.cutStreamsLocked()
	n.mu.Unlock()
	resetAll(cut)
}

// Stats returns the counters so far.
func (n *Net) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.stats
}

// reachableLocked reports whether a packet from ip from can reach ip to.
func (n *Net) reachableLocked(from, to string) bool {
	if n.mu.down[from] || n.mu.down[to] || n.mu.paused[from] > 0 || n.mu.paused[to] > 0 || n.mu.blocked[link{from, to}] {
		return false
	}
	gf, okf := n.mu.group[from]
	gt, okt := n.mu.group[to]
	return !okf || !okt || gf == gt
}

// connectedLocked reports whether a stream between a and b can live: it
// needs both directions.
func (n *Net) connectedLocked(a, b string) bool {
	return n.reachableLocked(a, b) && n.reachableLocked(b, a)
}

// lostLocked draws whether a packet on link from->to is lost.
func (n *Net) lostLocked(from, to string) bool {
	return n.drawLossLocked(n.linkLossLocked(from, to))
}

// drawLossLocked draws whether a packet is lost with probability p.
func (n *Net) drawLossLocked(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return n.mu.rng.Float64() < p
}

// delayLocked draws one delay from [minDelay, maxDelay].
func (n *Net) delayLocked() time.Duration {
	lo, hi := n.mu.minDelay, n.mu.maxDelay
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(n.mu.rng.Int64N(int64(hi-lo)+1))
}

// nextPortLocked hands out ports from firstEphemeralPort up, wrapping.
func (n *Net) nextPortLocked() int {
	p := n.mu.nextPort
	n.mu.nextPort++
	if n.mu.nextPort > lastPort {
		n.mu.nextPort = firstEphemeralPort
	}
	return p
}

// freePortLocked finds a port that ip uses neither for packets nor streams.
func (n *Net) freePortLocked(ip string) (int, error) {
	for range lastPort - firstEphemeralPort + 1 {
		p := n.nextPortLocked()
		key := hostPort(ip, p)
		if n.mu.packets[key] == nil && n.mu.listeners[key] == nil {
			return p, nil
		}
	}
	return 0, errNoPorts
}

// takeHostLocked unregisters and returns the packet conns and listeners of
// ip, for the caller to close outside the lock.
func (n *Net) takeHostLocked(ip string) ([]*packetConn, []*listener) {
	var pcs []*packetConn
	for key, c := range n.mu.packets {
		if c.ip == ip {
			pcs = append(pcs, c)
			delete(n.mu.packets, key)
		}
	}
	var lns []*listener
	for key, l := range n.mu.listeners {
		if l.ip == ip {
			lns = append(lns, l)
			delete(n.mu.listeners, key)
		}
	}
	return pcs, lns
}

func (n *Net) forget(p *streamPair) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.mu.streams, p)
}

func (n *Net) count(f func(*NetStats)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.mu.stats)
}

// send puts a packet on the wire: it is dropped now or delivered after the
// sampled delay. Loss is drawn once, here; cuts and crashes are checked
// again on delivery.
func (n *Net) send(p *packet) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.stats.PacketsSent++
	n.mu.stats.PacketBytes += uint64(len(p.data))
	if !n.reachableLocked(p.fromIP, p.toIP) || n.lostLocked(p.fromIP, p.toIP) {
		n.mu.stats.PacketsDropped++
		return
	}
	d := n.delayLocked()
	if d <= 0 {
		n.deliverLocked(p)
		return
	}
	time.AfterFunc(d, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.deliverLocked(p)
	})
}

// deliverLocked hands a packet to its receiver without ever blocking.
func (n *Net) deliverLocked(p *packet) {
	c := n.mu.packets[p.to]
	if c == nil || !n.reachableLocked(p.fromIP, p.toIP) {
		n.mu.stats.PacketsDropped++
		return
	}
	select {
	case c.in <- p:
		n.mu.stats.PacketsDelivered++
	default:
		n.mu.stats.PacketsDropped++
	}
}

// host is one host's view of a Net. Safe for concurrent use.
type host struct {
	n    *Net
	ip   string // canonical form
	addr net.IP // nil when ip does not parse
}

var _ cluster.Network = (*host)(nil)

// ListenPacket implements cluster.Network.
func (h *host) ListenPacket(addr string) (net.PacketConn, error) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	key, port, err := h.bindLocked("listen packet", addr)
	if err != nil {
		return nil, err
	}
	c := newPacketConn(n, h.ip, &net.UDPAddr{IP: h.addr, Port: port})
	n.mu.packets[key] = c
	return c, nil
}

// Listen implements cluster.Network.
func (h *host) Listen(addr string) (net.Listener, error) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	key, port, err := h.bindLocked("listen", addr)
	if err != nil {
		return nil, err
	}
	l := &listener{
		n: n, ip: h.ip, key: key,
		addr:   &net.TCPAddr{IP: h.addr, Port: port},
		accept: make(chan *streamConn),
		done:   make(chan struct{}),
	}
	n.mu.listeners[key] = l
	return l, nil
}

// bindLocked checks that this host can open addr for op ("listen" or
// "listen packet"), picks a port for port 0, and returns its key and port.
func (h *host) bindLocked(op, addr string) (string, int, error) {
	ip, port, err := splitAddr(addr)
	switch {
	case err != nil:
		return "", 0, fmt.Errorf("sim: %s %s: %w", op, addr, err)
	case h.addr == nil:
		return "", 0, fmt.Errorf("sim: %s %s: host %q is not an ip address", op, addr, h.ip)
	case ip != h.ip:
		return "", 0, fmt.Errorf("sim: %s %s: address is not on host %s", op, addr, h.ip)
	case h.n.mu.down[h.ip]:
		return "", 0, fmt.Errorf("sim: %s %s: %w", op, addr, errDown)
	}
	if port == 0 {
		if port, err = h.n.freePortLocked(h.ip); err != nil {
			return "", 0, fmt.Errorf("sim: %s %s: %w", op, addr, err)
		}
	}
	key := hostPort(h.ip, port)
	inUse := h.n.mu.listeners[key] != nil
	if op == "listen packet" {
		inUse = h.n.mu.packets[key] != nil
	}
	if inUse {
		return "", 0, fmt.Errorf("sim: %s %s: %w", op, key, errInUse)
	}
	return key, port, nil
}

// splitAddr parses "host:port" with a numeric port and canonical ip.
func splitAddr(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > lastPort {
		return "", 0, errors.New("port must be a number from 0 to 65535")
	}
	return canonIP(h), port, nil
}

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// parseIP parses ip, in its 4-byte form for IPv4, or returns nil.
func parseIP(s string) net.IP {
	ip := net.ParseIP(s)
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// canonIP returns the usual spelling of an ip, or s when it is not one.
func canonIP(s string) string {
	if ip := parseIP(s); ip != nil {
		return ip.String()
	}
	return s
}

func clamp01(p float64) float64 {
	return min(max(p, 0), 1)
}
