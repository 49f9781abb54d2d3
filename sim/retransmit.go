package sim

import "time"

// A stream on a lossy link loses segments, and TCP sends each again
// after its retransmission timeout: on Linux at least 200 ms
// (TCP_RTO_MIN), doubling with each loss of the same data. So a lossy
// link does not lose a stream's bytes but delays them, and everything
// written after them (TCP delivers in order): a small RPC over a link
// that loses 20 % of packets waits 200 ms or more one time in five.
// The simulation draws, for each Write, which of its segments are lost,
// then which of those are lost again at each retransmission, and adds
// the timeouts to its delay.
const (
	minRTO         = 200 * time.Millisecond
	segmentBytes   = 1448 // a TCP segment's payload on a 1500-byte MTU
	maxRetransmits = 8    // then the data is delivered after 51 s: TCP gives up later, but no call here waits that long
	maxSegments    = 64   // segments drawn per Write: a larger one loses at least as often as 64 segments would
)

// streamDelay draws the delay of a Write of size bytes from host ip
// from to host ip to: the link's delay plus its retransmissions.
func (n *Net) streamDelay(from, to string, size int) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.delayLocked()
	p, ok := n.mu.linkLoss[link{from, to}]
	if !ok {
		p = n.mu.loss
	}
	if p <= 0 || size == 0 {
		return d
	}
	// Each segment is lost with probability p; TCP resends only the
	// lost ones, and the Write arrives once the last of them does.
	lost := 0
	for range min((size+segmentBytes-1)/segmentBytes, maxSegments) {
		if p >= 1 || n.mu.rng.Float64() < p {
			lost++
		}
	}
	rto := minRTO
	for i := 0; lost > 0 && i < maxRetransmits; i++ {
		d += rto
		rto *= 2
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
