package clock_test

import (
	"errors"
	"testing"

	"github.com/gossipsync/gossipsync/clock"
)

func TestDecodeTimestamp(t *testing.T) {
	ts := clock.Timestamp{Wall: 1_700_000_000_123_456_789, Logical: 7}
	b := ts.AppendBinary(nil)
	if len(b) != clock.TimestampLen {
		t.Fatalf("encoded %d bytes, want %d", len(b), clock.TimestampLen)
	}
	got, err := clock.DecodeTimestamp(b)
	if err != nil || got != ts {
		t.Fatalf("DecodeTimestamp = %v, %v; want %v", got, err, ts)
	}
	if _, err := clock.DecodeTimestamp(b[:5]); !errors.Is(err, clock.ErrMalformedTimestamp) {
		t.Errorf("5 bytes: %v, want ErrMalformedTimestamp", err)
	}
}
