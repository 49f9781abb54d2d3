package sim

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

// streamDelay draws the delay of a Write of size bytes from host ip
// from to host ip to: the link's delay plus its retransmissions.
// inFlight tells whether earlier data of the stream is still unread.
func (n *Net) streamDelay(from, to string, size int, inFlight bool) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	wire := n.delayLocked()
	d := wire
	p, ok := n.mu.linkLoss[link{from, to}]
	if !ok {
		p = n.mu.loss
	}
	if p <= 0 || size == 0 {
		return d
	}
	// Each segment is lost with probability p; TCP resends only the
	// lost ones, and the Write arrives once the last of them does.
	segments := min((size+segmentBytes-1)/segmentBytes, maxSegments)
	lost, lastLost := 0, false
	for i := range segments {
		if p >= 1 || n.mu.rng.Float64() < p {
			lost++
			lastLost = i == segments-1
		}
	}
	rto := minRTO
	for i := 0; lost > 0 && i < maxRetransmits; i++ {
		if i == 0 && (inFlight || lost > 1 || !lastLost) {
			d += fastRecovery + 2*wire
		} else {
			d += rto
			rto *= 2
		}
		n.mu.stats.Retransmits += uint64(lost)
		again := 0
		for range lost {
			if p >= 1 || n.mu.rng.Float64() < p {
				again++
			}
		}
		lost = again
	}
	return d
}

// peerIP returns the ip of the stream's other end.
func (c *streamConn) peerIP() string {
	if c == c.pair.a {
		return c.pair.b.localIP
	}
	return c.pair.a.localIP
}
