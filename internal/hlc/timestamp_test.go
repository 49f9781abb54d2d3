package hlc

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b Timestamp
		want int
	}{
		{"equal", ts(5, 1), ts(5, 1), 0},
		{"wall less", ts(4, 9), ts(5, 0), -1},
		{"wall greater", ts(6, 0), ts(5, 9), 1},
		{"logical less", ts(5, 0), ts(5, 1), -1},
		{"logical greater", ts(5, 2), ts(5, 1), 1},
		{"negative wall", ts(-1, 0), ts(0, 0), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("%s.Compare(%s) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.a.Before(tt.b); got != (tt.want < 0) {
				t.Errorf("Before = %v, want %v", got, tt.want < 0)
			}
			if got := tt.a.After(tt.b); got != (tt.want > 0) {
				t.Errorf("After = %v, want %v", got, tt.want > 0)
			}
		})
	}
}

func TestIsZeroAndTime(t *testing.T) {
	if !(Timestamp{}).IsZero() {
		t.Error("zero Timestamp: IsZero() = false")
	}
	if ts(0, 1).IsZero() || ts(1, 0).IsZero() {
		t.Error("non-zero Timestamp: IsZero() = true")
	}
	want := time.Date(2023, 11, 14, 22, 13, 20, 123, time.UTC)
	if got := ts(want.UnixNano(), 7).Time(); !got.Equal(want) {
		t.Errorf("Time() = %v, want %v", got, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   Timestamp
		want string
	}{
		{ts(1_700_000_000_000_000_123, 4), "1700000000.000000123,4"},
		{Timestamp{}, "0.000000000,0"},
		{ts(-1_500_000_000, 2), "-1.500000000,2"},
		{ts(math.MaxInt64, math.MaxUint32), "9223372036.854775807,4294967295"},
		{ts(math.MinInt64, 0), "-9223372036.854775808,0"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for _, in := range []Timestamp{
		{},
		ts(1_700_000_000_000_000_123, 4),
		ts(-1, 1),
		ts(math.MaxInt64, math.MaxUint32),
		ts(math.MinInt64, 0),
	} {
		prefix := []byte("xy")
		b := in.AppendBinary(prefix)
		if len(b) != len(prefix)+EncodedLen || !bytes.Equal(b[:2], prefix) {
			t.Fatalf("AppendBinary(%q) of %s = %x", prefix, in, b)
		}
		got, err := Decode(b[2:])
		if err != nil || got != in {
			t.Errorf("Decode(AppendBinary(%s)) = %s, %v", in, got, err)
		}
	}
	want := []byte{0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3}
	if got := ts(0x102, 3).AppendBinary(nil); !bytes.Equal(got, want) {
		t.Errorf("AppendBinary = %x, want %x (big-endian Wall then Logical)", got, want)
	}
}

func TestDecodeWrongLength(t *testing.T) {
	for _, n := range []int{0, 1, 8, 11, 13, 24} {
		_, err := Decode(make([]byte, n))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%d bytes): err = %v, want ErrMalformed", n, err)
		}
	}
	_, err := Decode(make([]byte, 11))
	if want := "hlc: malformed timestamp: 11 bytes, want 12"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, EncodedLen))
	f.Add(ts(1_700_000_000_000_000_123, 4).AppendBinary(nil))
	f.Add(ts(math.MinInt64, math.MaxUint32).AppendBinary(nil))
	f.Add(make([]byte, EncodedLen-1))
	f.Add(make([]byte, EncodedLen+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b)
		if len(b) != EncodedLen {
			if !errors.Is(err, ErrMalformed) || !got.IsZero() {
				t.Fatalf("Decode(%d bytes) = %s, %v; want zero, ErrMalformed", len(b), got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(%x): %v", b, err)
		}
		if again := got.AppendBinary(nil); !bytes.Equal(again, b) {
			t.Fatalf("AppendBinary(Decode(%x)) = %x", b, again)
		}
		_ = got.String()
	})
}
