package wire

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// headerFrames are frames whose headers exercise every form appendHeader
// writes: each field empty and set, integers and lengths at the
// boundaries of their encodings.
func headerFrames() []Frame {
	frames := []Frame{
		{},
		{ID: 1, Method: "m", Timeout: 1},
		{ID: 0x7f, Timeout: 0x80, Code: "c", Message: strings.Repeat("e", 31)},
		{ID: 0xff, Timeout: 0x100, Message: strings.Repeat("e", 32), Body: []byte{1}},
		{ID: 0xffff, Timeout: 0x10000, Method: strings.Repeat("m", 255), Body: bytes.Repeat([]byte{2}, 255)},
		{ID: 0x10000, Timeout: math.MaxUint32, Method: strings.Repeat("m", 256), Body: bytes.Repeat([]byte{3}, 256)},
		{ID: math.MaxUint32 + 1, Timeout: math.MaxInt64, Code: strings.Repeat("c", 70000), Body: bytes.Repeat([]byte{4}, 70000), Stamp: []byte("stamp")},
		{ID: math.MaxUint64, Timeout: 5, Stamp: bytes.Repeat([]byte{5}, MaxStamp)},
	}
	return frames
}

// TestHeaderIsMsgpack: what appendHeader writes decodes with msgpack to
// the same frame, and parseHeader reads it back the same.
func TestHeaderIsMsgpack(t *testing.T) {
	for i, f := range headerFrames() {
		hdr := appendHeader(nil, &f)
		var viaMsgpack, viaParse Frame
		if err := msgpack.Unmarshal(hdr, &viaMsgpack); err != nil {
			t.Fatalf("frame %d: msgpack cannot read the header: %v", i, err)
		}
		if !parseHeader(hdr, &viaParse) {
			t.Fatalf("frame %d: parseHeader refused its own header", i)
		}
		for _, got := range []Frame{viaMsgpack, viaParse} {
			if !sameHeader(&got, &f) {
				t.Fatalf("frame %d: decoded %+v, want %+v", i, got, f)
			}
		}
	}
}

// FuzzHeaderAgreesWithMsgpack: whenever parseHeader reads a header, msgpack
// reads the same frame from it, so the hand decoder accepts nothing that
// msgpack would decode otherwise.
func FuzzHeaderAgreesWithMsgpack(f *testing.F) {
	for _, fr := range headerFrames() {
		f.Add(appendHeader(nil, &fr))
	}
	for _, fr := range headerFrames() {
		b, err := msgpack.Marshal(&fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b) // msgpack's own forms (fixed-width integers)
	}
	f.Add([]byte{0x82, 0xa1, 'i', 0x01, 0xa1, 'i', 0x02}) // a key twice
	f.Add([]byte{0x81, 0xa1, 'x', 0x01})                  // an unknown key
	f.Add([]byte{0x81, 0xa1, 't', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkValue(b) != nil {
			return // Unmarshal refuses it before either decoder
		}
		var viaParse Frame
		if !parseHeader(b, &viaParse) {
			return
		}
		var viaMsgpack Frame
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("parseHeader read %+v from %x, which msgpack refuses: %v", viaParse, b, err)
		}
		if !sameHeader(&viaParse, &viaMsgpack) {
			t.Fatalf("%x: parseHeader read %+v, msgpack %+v", b, viaParse, viaMsgpack)
		}
	})
}

// sameHeader compares the header fields, a nil and an empty slice alike.
func sameHeader(a, b *Frame) bool {
	norm := func(f Frame) Frame {
		if len(f.Body) == 0 {
			f.Body = nil
		}
		if len(f.Stamp) == 0 {
			f.Stamp = nil
		}
		f.Kind = 0
		return f
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}
