package cluster

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what peers can make a node hold before they have proven
// that they hold the cluster's key. The zero value of each field means its
// default, kept within the fields that are set: a per-source limit left
// at zero never exceeds its total, and GossipBytes left at zero is at
// least twice GossipStreamBytes. The package doc's Security section says
// what each protects.
type Limits struct {
	// GossipStreamBytes is the largest size an inbound gossip stream may
	// declare, in bytes; with a SecretKey, a stream that declares more is
	// closed before anything is read from it. memberlist reads a whole
	// encrypted stream into memory before it can check it, so this is
	// what one unauthenticated stream can cost. The largest legitimate
	// stream is a push-pull of the whole membership, measured at 0.8 KiB
	// per member with 128-byte names and 470 bytes of tags, 0.1 KiB with
	// 6-byte names and one short tag. 0 = 4 MiB: about 5,000 members of
	// the largest kind. At least 64 KiB, at most 20 MiB (memberlist's own
	// limit). Without a SecretKey streams are not checked (see the
	// package doc).
	GossipStreamBytes int
	// GossipBytes bounds the sizes that the inbound gossip streams being
	// served declare, in total, and so the memory that unauthenticated
	// gossip can hold; one source may hold at most half of it. A stream
	// that would go past it is closed at once. Streams of up to 64 KiB
	// do not count (pings; push-pulls of up to about 80 members of the
	// largest kind, 600 of the smallest), so that large streams never
	// crowd them out. 0 = 8 MiB. At least twice GossipStreamBytes. Only
	// with a SecretKey.
	GossipBytes int
	// GossipStreams bounds the inbound gossip streams (push-pulls, joins,
	// stream pings) served at once; a stream past it is closed at once,
	// which the dialer sees as a failed push-pull, join or ping. 0 = 64.
	GossipStreams int
	// GossipStreamsPerIP bounds the inbound gossip streams served at once
	// from one source address (an IPv6 /64 counts as one address; nodes
	// on one host share theirs). 0 = 16.
	GossipStreamsPerIP int
	// PreAuthConns bounds the inbound connections not yet authenticated:
	// accepted and not yet classified as gossip, or in the RPC handshake.
	// A connection past it is closed at once, unless it comes from a
	// source holding at least two fewer such connections than another:
	// then that other source's oldest one is closed instead, so that a
	// flood from a few sources cannot keep the others out. 0 = 256.
	PreAuthConns int
	// PreAuthConnsPerIP bounds the inbound connections not yet
	// authenticated from one source address (an IPv6 /64 counts as one;
	// nodes on one host share theirs). 0 = 64.
	PreAuthConnsPerIP int
}

// The default limits.
const (
	defaultGossipStreamBytes  = 4 << 20
	defaultGossipBytes        = 8 << 20
	defaultGossipStreams      = 64
	defaultGossipStreamsPerIP = 16
	defaultPreAuthConns       = 256
	defaultPreAuthConnsPerIP  = 64

	minGossipStreamBytes = 64 << 10
	smallGossipStream    = 64 << 10 // not counted in GossipBytes
	maxGossipStreamBytes = 20 << 20 // memberlist v0.7.0's maxPushStateBytes
)

// The header of an encrypted gossip stream (memberlist v0.7.0, net.go):
// the message type encryptMsg, then the big-endian uint32 size of the
// rest. With a key memberlist sends every stream so, or with a label
// header (hasLabelMsg) before it when a label is configured, which this
// package never does.
const (
	gossipEncryptMsg = 10
	gossipHeaderLen  = 5
)

// validate reports the first invalid limit.
func (l *Limits) validate() error {
	fields := []struct {
		name string
		v    int
	}{
		{"GossipStreamBytes", l.GossipStreamBytes},
		{"GossipBytes", l.GossipBytes},
		{"GossipStreams", l.GossipStreams},
		{"GossipStreamsPerIP", l.GossipStreamsPerIP},
		{"PreAuthConns", l.PreAuthConns},
		{"PreAuthConnsPerIP", l.PreAuthConnsPerIP},
	}
	for _, f := range fields {
		if f.v < 0 {
			return fmt.Errorf("cluster: config: Limits.%s %d is negative", f.name, f.v)
		}
	}
	if b := l.GossipStreamBytes; b != 0 && (b < minGossipStreamBytes || b > maxGossipStreamBytes) {
		return fmt.Errorf("cluster: config: Limits.GossipStreamBytes %d: use 0 for the default or %d to %d", b, minGossipStreamBytes, maxGossipStreamBytes)
	}
	d := l.withDefaults()
	if d.GossipBytes < 2*d.GossipStreamBytes {
		return fmt.Errorf("cluster: config: Limits.GossipBytes %d is below twice Limits.GossipStreamBytes (%d)", d.GossipBytes, d.GossipStreamBytes)
	}
	if d.GossipStreamsPerIP > d.GossipStreams {
		return fmt.Errorf("cluster: config: Limits.GossipStreamsPerIP %d is above Limits.GossipStreams (%d)", d.GossipStreamsPerIP, d.GossipStreams)
	}
	if d.PreAuthConnsPerIP > d.PreAuthConns {
		return fmt.Errorf("cluster: config: Limits.PreAuthConnsPerIP %d is above Limits.PreAuthConns (%d)", d.PreAuthConnsPerIP, d.PreAuthConns)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	// A field left at zero takes its default, within what the fields
	// set say: a total set below a per-source default lowers the
	// per-source limit to the total, a stream size set above half the
	// default budget raises the budget to twice it.
	def(&l.GossipStreamBytes, defaultGossipStreamBytes)
	def(&l.GossipBytes, max(defaultGossipBytes, 2*l.GossipStreamBytes))
	def(&l.GossipStreams, defaultGossipStreams)
	def(&l.GossipStreamsPerIP, min(defaultGossipStreamsPerIP, l.GossipStreams))
	def(&l.PreAuthConns, defaultPreAuthConns)
	def(&l.PreAuthConnsPerIP, min(defaultPreAuthConnsPerIP, l.PreAuthConns))
	return l
}

// refusal is why an inbound connection was closed before authentication.
type refusal int

const (
	refusedPreAuth      refusal = iota // PreAuthConns reached
	refusedPreAuthIP                   // PreAuthConnsPerIP reached
	refusedEvicted                     // closed for a newcomer from a smaller source
	refusedGossip                      // GossipStreams reached
	refusedGossipIP                    // GossipStreamsPerIP reached
	refusedGossipType                  // not an encrypted stream, with a key
	refusedGossipLength                // declares more than GossipStreamBytes
	refusedGossipBytes                 // GossipBytes, or its half for one source, reached
	numRefusals
)

var refusalNames = [numRefusals]string{
	"too many unauthenticated connections",
	"too many unauthenticated connections from this source",
	"closed for a connection from a source holding fewer",
	"too many gossip streams",
	"too many gossip streams from this source",
	"gossip stream not encrypted",
	"gossip stream declares more than Limits.GossipStreamBytes",
	"gossip streams being read declare too many bytes",
}

func (r refusal) String() string { return refusalNames[r] }

// limiter enforces a node's Limits on inbound connections. Safe for
// concurrent use.
type limiter struct {
	lim   Limits // with defaults
	keyed bool   // the node has a SecretKey: gossip streams are checked
	log   *slog.Logger
	logs  *logLimiter // refusals, by reason (log.go)

	mu       sync.Mutex                 // protects the fields below
	preAuth  map[netip.Prefix][]*ticket // by source, oldest first
	nPreAuth int                        // tickets in preAuth
	gossip   map[netip.Prefix]gossipUse // what gossip streams hold, by source
	inGossip gossipUse                  // their sum
	closed   bool                       // closeAll was called

	refused [numRefusals]atomic.Uint64 // counts, for tests (later metrics)
}

// gossipUse is what inbound gossip streams hold.
type gossipUse struct {
	streams int
	bytes   int // declared; 0 for streams in the clear
}

// ticket is one inbound connection before authentication.
type ticket struct {
	c        net.Conn
	src      netip.Prefix
	deadline time.Time // for the whole pre-authentication phase
	evicted  bool      // under limiter.mu: its place went to a newer connection
	handed   bool      // under limiter.mu: authenticated or handed on; no longer counted
}

func newLimiter(lim Limits, keyed bool, log *slog.Logger) *limiter {
	return &limiter{
		lim: lim.withDefaults(), keyed: keyed, log: log,
		logs: newLogLimiter(func(reason string, dropped int, d time.Duration) {
			log.Warn(fmt.Sprintf("%d more connections refused before authentication in the last %v", dropped, d), "reason", reason, "dropped", dropped)
		}),
		preAuth: map[netip.Prefix][]*ticket{}, gossip: map[netip.Prefix]gossipUse{},
	}
}

// sourceOf is the address that per-source limits count by: the IPv4
// address, or the /64 of an IPv6 address (what one host usually holds).
// Addresses that do not parse share one zero prefix.
func sourceOf(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if a != nil {
		ap, _ := netip.ParseAddrPort(a.String())
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// admit lets an accepted connection start its pre-authentication phase,
// whose deadline is handshakeTimeout from now. On false the caller
// closes c.
func (l *limiter) admit(c net.Conn) (*ticket, bool) {
	t := &ticket{c: c, src: sourceOf(c.RemoteAddr()), deadline: time.Now().Add(handshakeTimeout)}
	victim, r, ok := l.admitLocked(t)
	if victim != nil {
		victim.c.Close()
		l.refuse(refusedEvicted, victim.src)
	}
	if !ok {
		if r >= 0 {
			l.refuse(r, t.src)
		}
		return nil, false
	}
	return t, true
}

// admitLocked takes the lock and a place for t, or says why not (-1:
// the node is closing). victim, if not nil, gave its place to t and is
// to be closed.
func (l *limiter) admitLocked(t *ticket) (victim *ticket, r refusal, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := len(l.preAuth[t.src])
	switch {
	case l.closed:
		return nil, -1, false
	case held >= l.lim.PreAuthConnsPerIP:
		return nil, refusedPreAuthIP, false
	case l.nPreAuth >= l.lim.PreAuthConns:
		if victim = l.oldestOfLargestLocked(held + 2); victim == nil {
			return nil, refusedPreAuth, false
		}
		victim.evicted = true
		l.removeLocked(victim)
	}
	l.preAuth[t.src] = append(l.preAuth[t.src], t)
	l.nPreAuth++
	return victim, 0, true
}

// oldestOfLargestLocked returns the oldest ticket of the source holding
// the most, if that is at least atLeast.
func (l *limiter) oldestOfLargestLocked(atLeast int) *ticket {
	var most []*ticket
	for _, ts := range l.preAuth {
		if len(ts) > len(most) {
			most = ts
		}
	}
	if len(most) < atLeast {
		return nil
	}
	return most[0]
}

func (l *limiter) removeLocked(t *ticket) {
	ts := l.preAuth[t.src]
	for i, x := range ts {
		if x == t {
			ts = append(ts[:i:i], ts[i+1:]...)
			l.nPreAuth--
			break
		}
	}
	if len(ts) == 0 {
		delete(l.preAuth, t.src)
	} else {
		l.preAuth[t.src] = ts
	}
}

// done ends t's pre-authentication phase: the connection was handed on,
// authenticated, or closed.
func (l *limiter) done(t *ticket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !t.evicted && !t.handed {
		l.removeLocked(t)
	}
}

// handOn ends t's pre-authentication phase before its connection goes on
// (authenticated, or to memberlist), so that neither an eviction nor
// closeAll can close it after that. It reports false if the connection
// was evicted or the limiter closed: then the caller closes it.
func (l *limiter) handOn(t *ticket) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.evicted || l.closed {
		return false
	}
	if !t.handed {
		t.handed = true
		l.removeLocked(t)
	}
	return true
}

// closeAll closes every connection in its pre-authentication phase,
// refuses further ones and writes the summary of the refusals not logged;
// for Shutdown.
func (l *limiter) closeAll() {
	l.mu.Lock()
	l.closed = true
	var all []*ticket
	for _, ts := range l.preAuth {
		all = append(all, ts...)
	}
	l.mu.Unlock()
	for _, t := range all {
		t.c.Close()
	}
	l.logs.close()
}

// gossipStream checks the header of the gossip stream c (first bytes
// buffered in br) and takes a share of the gossip limits for it. On
// success it returns c wrapped so that Close gives the share back; on
// failure the caller closes c.
func (l *limiter) gossipStream(t *ticket, c net.Conn, br *bufio.Reader) (net.Conn, bool) {
	use := gossipUse{streams: 1}
	if l.keyed {
		hdr, err := br.Peek(gossipHeaderLen)
		if err != nil {
			return nil, false // closed, or silent until the deadline
		}
		if hdr[0] != gossipEncryptMsg {
			l.refuse(refusedGossipType, t.src)
			return nil, false
		}
		size := binary.BigEndian.Uint32(hdr[1:])
		if uint64(size) > uint64(l.lim.GossipStreamBytes) {
			l.refuse(refusedGossipLength, t.src)
			return nil, false
		}
		if size > smallGossipStream {
			use.bytes = int(size)
		}
	}
	if r, ok := l.takeGossip(t.src, use); !ok {
		l.refuse(r, t.src)
		return nil, false
	}
	return &gossipConn{peekedConn: peekedConn{Conn: c, r: br}, l: l, src: t.src, use: use}, true
}

func (l *limiter) takeGossip(src netip.Prefix, use gossipUse) (refusal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.gossip[src]
	switch {
	case held.streams >= l.lim.GossipStreamsPerIP:
		return refusedGossipIP, false
	case l.inGossip.streams >= l.lim.GossipStreams:
		return refusedGossip, false
	case held.bytes+use.bytes > l.lim.GossipBytes/2 || l.inGossip.bytes+use.bytes > l.lim.GossipBytes:
		return refusedGossipBytes, false
	}
	l.gossip[src] = held.add(use, 1)
	l.inGossip = l.inGossip.add(use, 1)
	return 0, true
}

func (l *limiter) endGossip(src netip.Prefix, use gossipUse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inGossip = l.inGossip.add(use, -1)
	if held := l.gossip[src].add(use, -1); held.streams > 0 {
		l.gossip[src] = held
	} else {
		delete(l.gossip, src)
	}
}

func (u gossipUse) add(v gossipUse, sign int) gossipUse {
	return gossipUse{u.streams + sign*v.streams, u.bytes + sign*v.bytes}
}

// refuse counts a refusal and logs it; of each reason, logBurst lines per
// logInterval, then one line that says how many more there were (log.go),
// so that a flood costs counters rather than log lines.
func (l *limiter) refuse(r refusal, src netip.Prefix) {
	l.refused[r].Add(1)
	if l.logs.allow(r.String()) {
		l.log.Warn("connection refused before authentication", "reason", r.String(), "source", src.String())
	}
}

// gossipConn is an inbound gossip stream holding its share of the gossip
// limits until it is closed.
type gossipConn struct {
	peekedConn
	l    *limiter
	src  netip.Prefix
	use  gossipUse
	once sync.Once
}

func (g *gossipConn) Close() error {
	g.once.Do(func() { g.l.endGossip(g.src, g.use) })
	return g.Conn.Close()
}
