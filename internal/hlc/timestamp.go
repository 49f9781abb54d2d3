package hlc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

var (
	// ErrMalformed reports an encoded timestamp that cannot be decoded.
	ErrMalformed = errors.New("hlc: malformed timestamp")
	// ErrTooFarAhead reports a remote timestamp whose Wall is further ahead
	// of the local physical clock than the Clock's maxForward allows.
	ErrTooFarAhead = errors.New("hlc: remote timestamp too far ahead")
)

// EncodedLen is the length of an encoded Timestamp in bytes.
const EncodedLen = 12

// Timestamp is a hybrid logical clock reading. The zero value is the
// smallest timestamp any Clock with a non-negative physical clock returns.
// A Timestamp is a value and safe to copy and share.
type Timestamp struct {
	Wall    int64  // nanoseconds since the Unix epoch
	Logical uint32 // orders events that share a Wall
}

// Compare returns -1, 0 or +1 as t is before, equal to or after u: by Wall,
// then by Logical.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Wall < u.Wall:
		return -1
	case t.Wall > u.Wall:
		return 1
	case t.Logical < u.Logical:
		return -1
	case t.Logical > u.Logical:
		return 1
	}
	return 0
}

// Before reports whether t orders before u.
func (t Timestamp) Before(u Timestamp) bool { return t.Compare(u) < 0 }

// After reports whether t orders after u.
func (t Timestamp) After(u Timestamp) bool { return t.Compare(u) > 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// String formats t as seconds.nanoseconds,logical, e.g.
// "1700000000.000000123,4".
func (t Timestamp) String() string {
	sign, ns := "", uint64(t.Wall)
	if t.Wall < 0 {
		sign, ns = "-", uint64(-t.Wall) // also right for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%09d,%d", sign, ns/1e9, ns%1e9, t.Logical)
}

// Time returns Wall as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall) }

// AppendBinary appends the 12-byte encoding of t to b and returns the
// extended slice: Wall then Logical, both big-endian. (It cannot fail, so
// unlike encoding.BinaryAppender it returns no error.)
func (t Timestamp) AppendBinary(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Wall))
	return binary.BigEndian.AppendUint32(b, t.Logical)
}

// Decode decodes a Timestamp encoded by AppendBinary. b must be exactly
// EncodedLen bytes long; any other length returns an error wrapping
// ErrMalformed. Every 12-byte input decodes.
func Decode(b []byte) (Timestamp, error) {
	if len(b) != EncodedLen {
		return Timestamp{}, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), EncodedLen)
	}
	return Timestamp{
		Wall:    int64(binary.BigEndian.Uint64(b)),
		Logical: binary.BigEndian.Uint32(b[8:]),
	}, nil
}

// next returns the smallest timestamp after t: Logical plus one, or, when
// Logical is at its maximum, Wall plus one nanosecond and Logical 0.
func (t Timestamp) next() Timestamp {
	if t.Logical == math.MaxUint32 {
		return Timestamp{Wall: t.Wall + 1}
	}
	return Timestamp{Wall: t.Wall, Logical: t.Logical + 1}
}
