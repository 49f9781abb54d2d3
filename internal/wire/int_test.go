package wire

import (
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestReadInt reads every integer form msgpack writes, and AppendInt's.
func TestReadInt(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range [][]byte{b, AppendInt(nil, v)} {
			got, rest, ok := ReadInt(enc)
			if !ok || got != v || len(rest) != 0 {
				t.Errorf("ReadInt(%x) = %d, %x, %v; want %d", enc, got, rest, ok, v)
			}
		}
	}
	if _, _, ok := ReadInt(AppendUint(nil, math.MaxUint64)); ok {
		t.Error("ReadInt took a uint64 above math.MaxInt64")
	}
	for _, b := range [][]byte{{0xc3}, {0xd1, 0x01}, {}} {
		if _, _, ok := ReadInt(b); ok {
			t.Errorf("ReadInt(%x) took it", b)
		}
	}
}
