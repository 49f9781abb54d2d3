package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mustEncode encodes v with msgpack or fails the test.
func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Encode(v)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", v, err)
	}
	return b
}

// rawBody builds a frame body from a version, a kind and a hand-encoded header.
func rawBody(t testing.TB, version byte, kind wire.Kind, header any) []byte {
	t.Helper()
	hdr, err := msgpack.Marshal(header)
	if err != nil {
		t.Fatalf("msgpack.Marshal(%#v): %v", header, err)
	}
	return append([]byte{version, byte(kind)}, hdr...)
}

// lengthPrefixed returns body with its 4-byte big-endian length in front.
func lengthPrefixed(n uint32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

func TestMarshalRoundTrip(t *testing.T) {
	hello := wire.Hello{Name: "node-a", Addr: "10.0.0.1:7946", Auth: true, Nonce: bytes.Repeat([]byte{0xab}, 32)}
	tests := []struct {
		name  string
		frame wire.Frame
	}{
		{"request", wire.Frame{Kind: wire.KindRequest, ID: 42, Method: "kv.get", Timeout: 1500000000, Body: mustEncode(t, map[string]string{"key": "a"})}},
		{"request without timeout or body", wire.Frame{Kind: wire.KindRequest, ID: 1, Method: "ping"}},
		{"request with max id", wire.Frame{Kind: wire.KindRequest, ID: ^uint64(0), Method: "m", Timeout: 1<<63 - 1}},
		{"response", wire.Frame{Kind: wire.KindResponse, ID: 42, Body: mustEncode(t, []int{1, 2, 3})}},
		{"empty response", wire.Frame{Kind: wire.KindResponse, ID: 7}},
		{"error", wire.Frame{Kind: wire.KindError, ID: 42, Code: "not_found", Message: "kv: key \"a\" not found"}},
		{"hello", wire.Frame{Kind: wire.KindHello, Body: mustEncode(t, hello)}},
		{"hello-ack", wire.Frame{Kind: wire.KindHelloAck, Body: mustEncode(t, wire.Hello{Auth: true, Nonce: bytes.Repeat([]byte{3}, 32)})}},
		{"auth", wire.Frame{Kind: wire.KindAuth, Body: mustEncode(t, bytes.Repeat([]byte{1}, 32))}},
		{"auth-ok", wire.Frame{Kind: wire.KindAuthOK, Body: mustEncode(t, wire.Hello{Name: "node-b", Addr: "10.0.0.2:7946", Auth: true, Proof: bytes.Repeat([]byte{2}, 32)})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := wire.Marshal(&tt.frame)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if b[0] != wire.Version || b[1] != byte(tt.frame.Kind) {
				t.Errorf("body starts %x, want %x", b[:2], []byte{wire.Version, byte(tt.frame.Kind)})
			}
			got, err := wire.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.frame) {
				t.Errorf("Unmarshal(Marshal(f))\n got %+v\nwant %+v", *got, tt.frame)
			}
		})
	}
}

func TestHelloBody(t *testing.T) {
	want := wire.Hello{Name: "node-a", Addr: "[::1]:7946", Auth: true, Nonce: []byte("0123456789abcdef0123456789abcdef")}
	b, err := wire.Marshal(&wire.Frame{Kind: wire.KindHello, Body: mustEncode(t, want)})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	f, err := wire.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	var got wire.Hello
	if err := wire.Decode(f.Body, &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hello\n got %+v\nwant %+v", got, want)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	valid, err := wire.Marshal(&wire.Frame{Kind: wire.KindRequest, ID: 9, Method: "kv.put", Body: []byte{0x93, 1, 2, 3}})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	withVersion := func(v byte) []byte { return append([]byte{v}, valid[1:]...) }
	withKind := func(k byte) []byte { return append([]byte{valid[0], k}, valid[2:]...) }
	deep := append([]byte{wire.Version, byte(wire.KindRequest), 0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 101)...)
	deep = append(deep, 0xc0)

	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, wire.ErrMalformed},
		{"one byte", []byte{wire.Version}, wire.ErrMalformed},
		{"version 0", withVersion(0), wire.ErrVersion},
		{"version too new", withVersion(wire.Version + 1), wire.ErrVersion},
		{"kind 0", withKind(0), wire.ErrMalformed},
		{"kind 200", withKind(200), wire.ErrMalformed},
		{"no header", valid[:2], wire.ErrMalformed},
		{"truncated msgpack", valid[:len(valid)-3], wire.ErrMalformed},
		{"header not a map", []byte{wire.Version, byte(wire.KindRequest), 0xa3, 'a', 'b', 'c'}, wire.ErrMalformed},
		{"field of wrong type", rawBody(t, wire.Version, wire.KindRequest, map[string]any{"m": 5}), wire.ErrMalformed},
		{"negative timeout", rawBody(t, wire.Version, wire.KindRequest, map[string]any{"m": "x", "t": int64(-1)}), wire.ErrMalformed},
		{"nested too deep", deep, wire.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := wire.Unmarshal(tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%x) = %+v, %v; want error %v", tt.body, f, err, tt.want)
			}
			if f != nil {
				t.Errorf("Unmarshal returned frame %+v with error", f)
			}
		})
	}
}

func TestUnmarshalEveryTruncation(t *testing.T) {
	b, err := wire.Marshal(&wire.Frame{Kind: wire.KindError, ID: 3, Code: "c", Message: "boom", Body: []byte{0xc0}})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	for n := range len(b) {
		if _, err := wire.Unmarshal(b[:n]); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("Unmarshal of first %d of %d bytes: got %v, want ErrMalformed", n, len(b), err)
		}
	}
}

// A nil or empty-array header makes msgpack zero the whole Frame; Unmarshal
// must still report the kind from the body's second byte.
func TestUnmarshalEmptyHeaderKeepsKind(t *testing.T) {
	tests := []struct {
		name   string
		header byte
	}{
		{"nil", 0xc0},
		{"empty array", 0x90},
		{"empty map", 0x80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wire.Unmarshal([]byte{wire.Version, byte(wire.KindResponse), tt.header})
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if want := (wire.Frame{Kind: wire.KindResponse}); !reflect.DeepEqual(*got, want) {
				t.Errorf("got %+v, want %+v", *got, want)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name  string
		frame wire.Frame
	}{
		{"kind 0", wire.Frame{Method: "x"}},
		{"kind 200", wire.Frame{Kind: 200}},
		{"negative timeout", wire.Frame{Kind: wire.KindRequest, Method: "x", Timeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := wire.Marshal(&tt.frame); err == nil {
				t.Errorf("Marshal(%+v) = %x, nil; want an error", tt.frame, b)
			}
		})
	}
}

// A newer version may add header fields; this version must skip them and
// keep the fields it knows.
func TestUnmarshalSkipsUnknownFields(t *testing.T) {
	header := map[string]any{
		"i":  uint64(77),
		"m":  "kv.get",
		"t":  int64(1000),
		"b":  []byte{0xc3},
		"zz": "added in version 2",
		"q":  map[string]any{"nested": []any{1, "two", 3.5, nil, []byte{4}}},
		"x":  []any{map[string]any{"deep": []any{true}}},
	}
	got, err := wire.Unmarshal(rawBody(t, wire.Version, wire.KindRequest, header))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := wire.Frame{Kind: wire.KindRequest, ID: 77, Method: "kv.get", Timeout: 1000, Body: []byte{0xc3}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v, want %+v", *got, want)
	}
}

func TestDecodeHelloSkipsUnknownFields(t *testing.T) {
	b := mustEncode(t, map[string]any{"n": "node-a", "a": "h:1", "k": true, "x": []byte{1, 2}, "v": 2, "caps": []string{"zstd"}})
	var got wire.Hello
	if err := wire.Decode(b, &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := wire.Hello{Name: "node-a", Addr: "h:1", Auth: true, Nonce: []byte{1, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := append([]byte{0x81, 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 200)...)
	deep = append(deep, 0xc0)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"garbage", []byte("not msgpack at all")},
		{"reserved code", []byte{0xc1}},
		{"truncated string", []byte{0x81, 0xa1, 'n', 0xa5, 'a', 'b'}},
		{"huge declared length", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}},
		{"huge declared map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"name not a string", []byte{0x81, 0xa1, 'n', 0x93, 1, 2, 3}},
		{"nested too deep", deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h wire.Hello
			if err := wire.Decode(tt.in, &h); !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("Decode(%x) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

// Nesting up to the limit still decodes; one more level does not.
func TestDecodeDepthLimit(t *testing.T) {
	nested := func(depth int) []byte {
		return append(bytes.Repeat([]byte{0x91}, depth-1), 0x90)
	}
	var v any
	if err := wire.Decode(nested(100), &v); err != nil {
		t.Errorf("Decode of 100 nested arrays: %v", err)
	}
	if err := wire.Decode(nested(101), &v); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("Decode of 101 nested arrays = %v, want ErrMalformed", err)
	}
}

func TestReadWriteFrame(t *testing.T) {
	tests := []struct {
		name   string
		bodies [][]byte
	}{
		{"one frame", [][]byte{[]byte("hello")}},
		{"empty body", [][]byte{{}}},
		{"back to back", [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{7}, 1024), []byte("last")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, b := range tt.bodies {
				if err := wire.WriteFrame(&buf, b); err != nil {
					t.Fatalf("WriteFrame: %v", err)
				}
			}
			for i, want := range tt.bodies {
				got, err := wire.ReadFrame(&buf, 1024)
				if err != nil {
					t.Fatalf("ReadFrame #%d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("ReadFrame #%d = %q, want %q", i, got, want)
				}
			}
			if got, err := wire.ReadFrame(&buf, 1024); err != io.EOF {
				t.Errorf("ReadFrame after last frame = %q, %v; want io.EOF", got, err)
			}
		})
	}
}

func TestFrameOverStream(t *testing.T) {
	want := []wire.Frame{
		{Kind: wire.KindRequest, ID: 1, Method: "a", Timeout: 5, Body: []byte{0xc0}},
		{Kind: wire.KindResponse, ID: 1, Body: []byte{0x01}},
		{Kind: wire.KindError, ID: 2, Code: "x", Message: "y"},
	}
	var buf bytes.Buffer
	for _, f := range want {
		b, err := wire.Marshal(&f)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if err := wire.WriteFrame(&buf, b); err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
	}
	for i := range want {
		b, err := wire.ReadFrame(&buf, wire.DefaultMaxFrame)
		if err != nil {
			t.Fatalf("ReadFrame #%d: %v", i, err)
		}
		got, err := wire.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal #%d: %v", i, err)
		}
		if !reflect.DeepEqual(*got, want[i]) {
			t.Errorf("frame #%d\n got %+v\nwant %+v", i, *got, want[i])
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, io.EOF},
		{"short length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"short body", lengthPrefixed(10, []byte("abc")), io.ErrUnexpectedEOF},
		{"missing body", lengthPrefixed(1, nil), io.ErrUnexpectedEOF},
		{"one over the limit", lengthPrefixed(1025, bytes.Repeat([]byte{1}, 1025)), wire.ErrTooLarge},
		{"largest length", lengthPrefixed(^uint32(0), nil), wire.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wire.ReadFrame(bytes.NewReader(tt.in), 1024)
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame = %q, %v; want error %v", got, err, tt.want)
			}
			if got != nil {
				t.Errorf("ReadFrame returned %d bytes with error", len(got))
			}
		})
	}
}

func TestReadFrameAtLimit(t *testing.T) {
	body := bytes.Repeat([]byte{9}, 1024)
	got, err := wire.ReadFrame(bytes.NewReader(lengthPrefixed(1024, body)), 1024)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("ReadFrame of a body at the limit = %d bytes, %v; want 1024 bytes", len(got), err)
	}
}

// A length over the limit is refused before the body is read or allocated.
func TestReadFrameTooLargeReadsNothing(t *testing.T) {
	body := bytes.Repeat([]byte{1}, 2048)
	r := bytes.NewReader(lengthPrefixed(^uint32(0), body))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := wire.ReadFrame(r, 1024)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("ReadFrame: got %v, want ErrTooLarge", err)
	}
	if r.Len() != len(body) {
		t.Errorf("ReadFrame consumed %d body bytes, want 0", len(body)-r.Len())
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("ReadFrame allocated %d bytes for a refused frame", n)
	}
}

func TestDecodeWrapsMalformed(t *testing.T) {
	var v struct{ A int }
	err := wire.Decode([]byte{0xff, 0x00, 0xc1}, &v)
	if !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("Decode(garbage) = %v, want ErrMalformed", err)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind wire.Kind
		want string
	}{
		{0, "invalid"},
		{wire.KindRequest, "request"},
		{wire.KindAuthOK, "auth-ok"},
		{200, "kind(200)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.kind), got, tt.want)
		}
	}
}
