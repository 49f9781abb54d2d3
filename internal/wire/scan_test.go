package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// scanSamples returns msgpack values using every format code.
func scanSamples(t testing.TB) [][]byte {
	t.Helper()
	values := []any{
		nil, true, false,
		0, 127, -1, -32, -33, -129, -40000, int64(-1) << 40,
		uint8(200), uint16(60000), uint32(1 << 31), uint64(1) << 63,
		float32(1.5), 2.5,
		"", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), strings.Repeat("s", 1<<16),
		[]byte{}, bytes.Repeat([]byte{1}, 256), bytes.Repeat([]byte{1}, 1<<16),
		make([]any, 15), make([]any, 16), make([]any, 1<<16),
		map[string]int{"a": 1}, map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 10: 10, 11: 11, 12: 12, 13: 13, 14: 14, 15: 15, 16: 16},
		time.Unix(1, 0), time.Unix(1, 5), time.Unix(1<<40, 5), // fixext4, fixext8, ext8
		[]any{map[string]any{"x": []any{1, []any{2, []any{3}}}}},
	}
	var out [][]byte
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("msgpack.Marshal(%v): %v", v, err)
		}
		out = append(out, b)
	}
	bigMap := []byte{0xdf, 0, 1, 0, 0} // map32 of 65536 nil -> nil entries
	bigMap = append(bigMap, bytes.Repeat([]byte{0xc0}, 2<<16)...)
	return append(out,
		[]byte{0xd4, 1, 0},                           // fixext1
		[]byte{0xd5, 1, 0, 0},                        // fixext2
		append([]byte{0xd8, 1}, make([]byte, 16)...), // fixext16
		[]byte{0xc8, 0, 1, 5, 0},                     // ext16
		[]byte{0xc9, 0, 0, 0, 1, 5, 0},               // ext32
		[]byte{0xde, 0, 1, 0xc0, 0xc0},               // map16
		[]byte{0xdd, 0, 0, 0, 1, 0xc0},               // array32
		[]byte{0xc6, 0, 0, 0, 2, 'h', 'i'},           // bin32
		bigMap,
	)
}

// skipOK reports whether the msgpack decoder can skip the first value in b.
func skipOK(b []byte) bool {
	return msgpack.NewDecoder(bytes.NewReader(b)).Skip() == nil
}

func TestCheckValueAgreesWithDecoder(t *testing.T) {
	for _, b := range scanSamples(t) {
		if err := checkValue(b); err != nil {
			t.Errorf("checkValue(%.16x...) = %v, want nil", b, err)
		}
		for n := range len(b) {
			if err := checkValue(b[:n]); err == nil {
				t.Errorf("checkValue accepts %d-byte prefix of %.16x...", n, b)
				break
			}
		}
	}
}

func TestCheckValueDepth(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		depth int
		want  error
	}{
		{"arrays at the limit", append(bytes.Repeat([]byte{0x91}, maxDepth), 0xc0), maxDepth, nil},
		{"arrays over the limit", append(bytes.Repeat([]byte{0x91}, maxDepth+1), 0xc0), maxDepth + 1, errTooDeep},
		{"maps over the limit", append(bytes.Repeat([]byte{0x81, 0xc0}, maxDepth+1), 0xc0), maxDepth + 1, errTooDeep},
		{"wide not deep", append([]byte{0xdc, 0x10, 0x00}, bytes.Repeat([]byte{0x90}, 0x1000)...), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkValue(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("checkValue (depth %d) = %v, want %v", tt.depth, err, tt.want)
			}
		})
	}
}

// FuzzCheckValue checks that checkValue accepts exactly what the msgpack
// decoder can skip, except values nested deeper than maxDepth.
func FuzzCheckValue(f *testing.F) {
	for _, b := range scanSamples(f) {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add([]byte{0xc1})
	f.Add(append(bytes.Repeat([]byte{0x91}, maxDepth+1), 0xc0))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkValue(b)
		switch ok := skipOK(b); {
		case err == nil && !ok:
			t.Fatalf("checkValue accepts %x, which msgpack cannot skip", b)
		case err != nil && ok && !errors.Is(err, errTooDeep):
			t.Fatalf("checkValue(%x) = %v, but msgpack skips it", b, err)
		}
	})
}
