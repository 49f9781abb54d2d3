package clock

import (
	"time"

	"github.com/gossipsync/gossipsync/internal/hlc"
)

// Interval is a range of cluster time that contains the true cluster
// time: the reference's.
type Interval struct {
	Earliest, Latest time.Time
}

// Contains reports whether t lies within the interval, ends included.
func (i Interval) Contains(t time.Time) bool {
	return !t.Before(i.Earliest) && !t.After(i.Latest)
}

// Uncertainty returns half the interval's width.
func (i Interval) Uncertainty() time.Duration { return i.Latest.Sub(i.Earliest) / 2 }

// Timestamp is a hybrid logical clock timestamp: Wall is cluster time in
// nanoseconds since the Unix epoch, Logical orders events within one
// Wall value. Compare with Before, After and Compare.
type Timestamp = hlc.Timestamp

// TimestampLen is the length of a Timestamp's binary encoding
// (Timestamp.AppendBinary: Wall, then Logical, big-endian).
const TimestampLen = hlc.EncodedLen

// ErrMalformedTimestamp is wrapped by DecodeTimestamp's error.
var ErrMalformedTimestamp = hlc.ErrMalformed

// DecodeTimestamp decodes a Timestamp that AppendBinary encoded, say one
// stored beside a record to order it: b must be exactly TimestampLen
// bytes (else an error wrapping ErrMalformedTimestamp); every such b
// decodes.
func DecodeTimestamp(b []byte) (Timestamp, error) { return hlc.Decode(b) }

// Stats describes a Clock's synchronization.
type Stats struct {
	Reference   string        // node name of the current reference; "" if none known
	Term        uint64        // the reference term the bound rests on (its election term)
	IsReference bool          // this node is the reference
	Offset      time.Duration // cluster time minus this node's physical time
	Uncertainty time.Duration // half the width of Interval now
	RTT         time.Duration // round-trip time of the best sample kept
	Samples     int           // samples accepted since the Clock started
	Rejected    int           // samples rejected as inconsistent or invalid
	Failed      int           // exchanges with the reference that got no answer in time
	// Synced reports whether Interval (and Now) would succeed now: this
	// node is the reference, or has a bound within MaxUncertainty.
	Synced bool
}
