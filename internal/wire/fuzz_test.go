package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// seedFrames returns valid frame bodies of every kind.
func seedFrames(f *testing.F) [][]byte {
	f.Helper()
	hello := mustEncode(f, wire.Hello{Name: "node-a", Addr: "127.0.0.1:7946", Auth: true, Nonce: bytes.Repeat([]byte{0x5a}, 32)})
	frames := []wire.Frame{
		{Kind: wire.KindRequest, ID: 1, Method: "kv.get", Timeout: 2000000000, Body: mustEncode(f, map[string]any{"key": "a"})},
		{Kind: wire.KindRequest, ID: ^uint64(0), Method: "ping"},
		{Kind: wire.KindResponse, ID: 1, Body: mustEncode(f, []any{1, "x", nil})},
		{Kind: wire.KindResponse, ID: 2},
		{Kind: wire.KindError, ID: 1, Code: "not_found", Message: "no such key"},
		{Kind: wire.KindHello, Body: hello},
		{Kind: wire.KindHelloAck, Body: mustEncode(f, wire.Hello{Auth: true, Nonce: bytes.Repeat([]byte{3}, 32)})},
		{Kind: wire.KindAuth, Body: mustEncode(f, bytes.Repeat([]byte{1}, 32))},
		{Kind: wire.KindAuthOK, Body: mustEncode(f, wire.Hello{Name: "node-b", Addr: "127.0.0.1:7947", Auth: true, Proof: bytes.Repeat([]byte{2}, 32)})},
	}
	var out [][]byte
	for i := range frames {
		b, err := wire.Marshal(&frames[i])
		if err != nil {
			f.Fatalf("Marshal(%+v): %v", frames[i], err)
		}
		out = append(out, b)
	}
	return out
}

// malformedFrames returns bodies that Unmarshal must reject.
func malformedFrames(f *testing.F) [][]byte {
	f.Helper()
	deep := append([]byte{wire.Version, byte(wire.KindRequest), 0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 150)...)
	return [][]byte{
		{},
		{wire.Version},
		{0, byte(wire.KindRequest), 0x80},
		{wire.Version + 1, byte(wire.KindRequest), 0x80},
		{wire.Version, 0, 0x80},
		{wire.Version, 200, 0x80},
		{wire.Version, byte(wire.KindRequest), 0x81, 0xa1, 'm'},
		{wire.Version, byte(wire.KindRequest), 0x81, 0xa1, 't', 0xff},
		{wire.Version, byte(wire.KindResponse), 0xc0},
		{wire.Version, byte(wire.KindResponse), 0xdf, 0xff, 0xff, 0xff, 0xff},
		append(deep, 0xc0),
	}
}

// sameFrame reports whether a and b are equal, treating a nil and an
// empty Body alike (omitempty does not keep the difference on the wire).
func sameFrame(a, b *wire.Frame) bool {
	x, y := *a, *b
	if len(x.Body) == 0 && len(y.Body) == 0 {
		x.Body, y.Body = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

func FuzzUnmarshal(f *testing.F) {
	for _, b := range seedFrames(f) {
		f.Add(b)
	}
	for _, b := range malformedFrames(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := wire.Unmarshal(b)
		if err != nil {
			if got != nil {
				t.Fatalf("Unmarshal returned frame %+v with error %v", got, err)
			}
			if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrVersion) {
				t.Fatalf("Unmarshal error %v wraps neither ErrMalformed nor ErrVersion", err)
			}
			return
		}
		if got.Kind != wire.Kind(b[1]) {
			t.Fatalf("Unmarshal kind = %v, want %v from the body", got.Kind, wire.Kind(b[1]))
		}
		again, err := wire.Marshal(got)
		if err != nil {
			t.Fatalf("Marshal of decoded frame %+v: %v", got, err)
		}
		back, err := wire.Unmarshal(again)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", got, err)
		}
		if !sameFrame(back, got) {
			t.Fatalf("round trip changed the frame\n got %+v\nwant %+v", back, got)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	const limit = 1024
	var stream []byte
	for _, b := range seedFrames(f) {
		framed := lengthPrefixed(uint32(len(b)), b)
		f.Add(framed)
		stream = append(stream, framed...)
	}
	f.Add(stream)
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add(lengthPrefixed(0, nil))
	f.Add(lengthPrefixed(10, []byte("short")))
	f.Add(lengthPrefixed(limit+1, bytes.Repeat([]byte{1}, limit+1)))
	f.Add(lengthPrefixed(^uint32(0), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			before := r.Len()
			body, err := wire.ReadFrame(r, limit)
			if err != nil {
				if body != nil {
					t.Fatalf("ReadFrame returned %d bytes with error %v", len(body), err)
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, wire.ErrTooLarge) {
					t.Fatalf("ReadFrame: unexpected error %v", err)
				}
				return
			}
			if len(body) > limit {
				t.Fatalf("ReadFrame returned %d bytes, limit %d", len(body), limit)
			}
			if used := before - r.Len(); used != 4+len(body) {
				t.Fatalf("ReadFrame consumed %d bytes for a %d-byte body", used, len(body))
			}
			wire.Unmarshal(body) // must not panic
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	f.Add(mustEncode(f, wire.Hello{Name: "node-a", Addr: "h:1", Auth: true, Nonce: []byte{1, 2, 3}}))
	f.Add(mustEncode(f, wire.Hello{}))
	f.Add(mustEncode(f, map[string]any{"n": "a", "future": []any{1, map[string]any{"x": 2.5}}}))
	f.Add([]byte{})
	f.Add([]byte{0xc0})
	f.Add([]byte{0xc1})
	f.Add([]byte{0x81, 0xa1, 'n', 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Add(append([]byte{0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 150)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h wire.Hello
		if err := wire.Decode(b, &h); err != nil && !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
		}
	})
}
