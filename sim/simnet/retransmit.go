package simnet

import "time"

// A stream on a lossy link loses segments, and TCP sends each again, so
// a lossy link does not lose a stream's bytes but delays them, and
// everything written after them (TCP delivers in order). How long
// depends on what else is in flight, as in Linux:
//
//   - A lost segment with other data in flight behind it (a later
//     segment of the same Write, or earlier data still unread, so that
//     more than one segment is unacknowledged) is found by the ACKs of
//     the data around it (fast retransmit, RACK) or by a tail loss
//     probe after two round trips: it is sent again after fastRecovery
//     plus twice the link's delay.
//   - A lost segment alone in flight (a small RPC on an idle stream)
//     waits for the retransmission timeout: 200 ms at least
//     (TCP_RTO_MIN).
//
// Each further loss of the same data waits for the timeout, doubled
// each time. The simulation draws, for each Write, which of its
// segments are lost, then which of those are lost again at each
// retransmission, and adds the waits to its delay.
const (
	minRTO         = 200 * time.Millisecond
	fastRecovery   = 4 * time.Millisecond
	segmentBytes   = 1448 // a TCP segment's payload on a 1500-byte MTU
	maxRetransmits = 8    // then the data is delivered after 51 s: TCP gives up later, but no call here waits that long
	maxSegments    = 64   // segments drawn per Write: a larger one loses at least as often as 64 segments would
)

// sending is how a Write travels: its link delay, and the waits before
// each of its retransmissions (none if nothing was lost).
type sending struct {
	wire  time.Duration
	waits []time.Duration
}

// delay is the Write's whole delay: the wire's plus every wait.
func (s sending) delay() time.Duration {
	d := s.wire
	for _, w := range s.waits {
		d += w
	}
	return d
}

// streamDelay draws how a Write of size bytes from host ip from to host
// ip to travels. inFlight tells whether earlier data of the stream is
// still unread.
func (n *Net) streamDelay(from, to string, size int, inFlight bool) sending {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := sending{wire: n.delayLocked()}
	p := n.linkLossLocked(from, to)
	if p <= 0 || size == 0 {
		return s
	}
	// Each segment is lost with probability p; TCP resends only the
	// lost ones, and the Write arrives once the last of them does.
	segments := min((size+segmentBytes-1)/segmentBytes, maxSegments)
	lost, lastLost := 0, false
	for i := range segments {
		if n.drawLossLocked(p) {
			lost++
			lastLost = i == segments-1
		}
	}
	rto := minRTO
	for i := 0; lost > 0 && i < maxRetransmits; i++ {
		if i == 0 && (inFlight || lost > 1 || !lastLost) {
			s.waits = append(s.waits, fastRecovery+2*s.wire)
		} else {
			s.waits = append(s.waits, rto)
			rto *= 2
		}
		n.mu.stats.Retransmits += uint64(lost)
		again := 0
		for range lost {
			if n.drawLossLocked(p) {
				again++
			}
		}
		lost = again
	}
	return s
}

func (n *Net) linkLossLocked(from, to string) float64 {
	if p, ok := n.mu.linkLoss[link{from, to}]; ok {
		return p
	}
	return n.mu.loss
}

// lossEndedLocked lets the Writes still waiting for a retransmission on
// a link that no longer loses anything arrive with their next one: the
// draws made at Write time assumed the loss would last.
func (n *Net) lossEndedLocked() {
	now := time.Now()
	for p := range n.mu.streams {
		if n.linkLossLocked(p.a.localIP, p.b.localIP) <= 0 {
			p.a.tx.resendFrom(now)
		}
		if n.linkLossLocked(p.b.localIP, p.a.localIP) <= 0 {
			p.b.tx.resendFrom(now)
		}
	}
}

// resendFrom makes each chunk arrive after the first of its
// retransmissions sent at or after now (the loss is over: that one gets
// through), keeping the chunks in order.
func (h *half) resendFrom(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var prev time.Time
	for i := range h.mu.chunks {
		c := &h.mu.chunks[i]
		for _, at := range c.resends {
			if !at.Before(now) {
				if arrive := at.Add(c.wire); arrive.Before(c.due) {
					c.due = arrive
				}
				break
			}
		}
		c.resends = nil
		if c.due.Before(prev) {
			c.due = prev
		}
		prev = c.due
	}
	if n := len(h.mu.chunks); n > 0 {
		h.mu.last = h.mu.chunks[n-1].due
	}
	h.changedLocked()
}

// peerIP returns the ip of the stream's other end.
func (c *streamConn) peerIP() string {
	if c == c.pair.a {
		return c.pair.b.localIP
	}
	return c.pair.a.localIP
}
