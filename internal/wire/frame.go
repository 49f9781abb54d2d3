// Package wire is the framing and encoding of gossipsync's node-to-node RPC.
//
// A stream carries frames. On the wire each frame is a 4-byte big-endian
// length followed by that many bytes of body; the body's first byte is the
// protocol version and its second the frame kind, then a msgpack map holds
// the header fields and the msgpack-encoded payload. Fields are keyed by
// short names, so a newer version can add fields that an older one skips.
//
// The package imports nothing from the rest of gossipsync. Its decoders never
// panic on bad input; they return an error wrapping ErrMalformed or
// ErrTooLarge, and the caller closes that connection. Headers and payloads
// whose maps and arrays nest more than 100 deep are malformed: the msgpack
// decoder recurses once per level, so deeper input could exhaust the stack.
package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the protocol version this package writes. Decode accepts
// versions from MinVersion to Version.
const (
	Version    = 1
	MinVersion = 1
)

// MaxStamp is the largest Stamp a frame may carry.
const MaxStamp = 64

// DefaultMaxFrame is the largest frame body accepted by default (4 MiB).
const DefaultMaxFrame = 4 << 20

var (
	// ErrMalformed reports a frame that cannot be decoded.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrTooLarge reports a frame whose length exceeds the limit.
	ErrTooLarge = errors.New("wire: frame too large")
	// ErrVersion reports a frame of a protocol version this node does not speak.
	ErrVersion = errors.New("wire: unsupported protocol version")
)

// Kind is the type of a frame.
type Kind uint8

// Frame kinds. Values are part of the protocol: never renumber.
const (
	KindRequest  Kind = 1 // a call: ID, Method, Timeout, Body
	KindResponse Kind = 2 // a successful reply to request ID: Body
	KindError    Kind = 3 // a failed reply to request ID (or to a handshake): Code, Message
	KindHello    Kind = 4 // handshake, dialer to listener: Body is a Hello
	KindHelloAck Kind = 5 // handshake, listener to dialer: Body is a Hello
	KindAuth     Kind = 6 // handshake, dialer proves the key: Body is the MAC
	KindAuthOK   Kind = 7 // handshake, listener proves the key: Body is a Hello with Proof
	KindCancel   Kind = 8 // the caller gave up on request ID: cancel its handler
	maxKind           = KindCancel
)

func (k Kind) String() string {
	names := [...]string{"invalid", "request", "response", "error", "hello", "hello-ack", "auth", "auth-ok", "cancel"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Frame is one decoded message.
type Frame struct {
	Kind    Kind   `msgpack:"-"`
	ID      uint64 `msgpack:"i,omitempty"` // request id, echoed by the reply
	Method  string `msgpack:"m,omitempty"` // request: the method name
	Timeout int64  `msgpack:"t,omitempty"` // request: the caller's remaining deadline in ns; 0 = none
	Code    string `msgpack:"c,omitempty"` // error: a stable error code
	Message string `msgpack:"e,omitempty"` // error: the human-readable message
	Body    []byte `msgpack:"b,omitempty"` // msgpack payload
	Stamp   []byte `msgpack:"s,omitempty"` // request/response: the sender's clock stamp (MaxStamp bytes at most)
}

// Hello is the body of the handshake frames.
type Hello struct {
	Name  string `msgpack:"n"`           // the sender's node name
	Addr  string `msgpack:"a,omitempty"` // the sender's advertised address
	Auth  bool   `msgpack:"k,omitempty"` // the sender has a secret key and requires authentication
	Nonce []byte `msgpack:"x,omitempty"` // a fresh random challenge
	Proof []byte `msgpack:"p,omitempty"` // auth-ok: the listener's MAC
}

// Marshal encodes f as a frame body (without the length prefix). It refuses
// a frame that Unmarshal would reject: an unknown kind or a negative timeout.
func Marshal(f *Frame) ([]byte, error) {
	if f.Kind == 0 || f.Kind > maxKind {
		return nil, fmt.Errorf("wire: cannot marshal frame of %v", f.Kind)
	}
	if f.Timeout < 0 {
		return nil, fmt.Errorf("wire: cannot marshal negative timeout %d", f.Timeout)
	}
	if len(f.Stamp) > MaxStamp {
		return nil, fmt.Errorf("wire: cannot marshal a stamp of %d bytes", len(f.Stamp))
	}
	b := make([]byte, 0, 2+16+len(f.Method)+len(f.Code)+len(f.Message)+len(f.Body)+len(f.Stamp)+24)
	return appendHeader(append(b, Version, byte(f.Kind)), f), nil
}

// Unmarshal decodes a frame body produced by Marshal.
func Unmarshal(b []byte) (*Frame, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] < MinVersion || b[0] > Version {
		return nil, fmt.Errorf("%w %d (this node speaks %d to %d)", ErrVersion, b[0], MinVersion, Version)
	}
	kind := Kind(b[1])
	if kind == 0 || kind > maxKind {
		return nil, fmt.Errorf("%w: unknown %v", ErrMalformed, kind)
	}
	if err := checkValue(b[2:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	f := &Frame{}
	if !parseHeader(b[2:], f) {
		*f = Frame{}
		if err := msgpack.Unmarshal(b[2:], f); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	// Set Kind after decoding: msgpack zeroes the whole struct, Kind
	// included, when the header is nil or an empty array.
	f.Kind = kind
	if f.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout", ErrMalformed)
	}
	if len(f.Stamp) > MaxStamp {
		return nil, fmt.Errorf("%w: stamp of %d bytes", ErrMalformed, len(f.Stamp))
	}
	return f, nil
}

// WriteFrame writes body with its length prefix in one Write.
func WriteFrame(w io.Writer, body []byte) error {
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one length-prefixed body of at most max bytes. It reads
// nothing past the frame, so the stream stays usable after an error only if
// the error is io.EOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if max < 0 || uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, max)
	}
	if n <= readChunk { // small enough to allocate before it arrives
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	// Grow the buffer as bytes arrive rather than trusting the declared
	// length: a peer that announces 4 MiB and sends nothing costs little.
	var buf bytes.Buffer
	buf.Grow(int(min(n, readChunk)))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeCap is the room Encode gives an Appender at first.
const encodeCap = 256

// readChunk is the most ReadFrame allocates before the bytes arrive.
const readChunk = 64 << 10

// Encode encodes a payload value with msgpack (by its AppendMsgpack if it
// is an Appender).
func Encode(v any) ([]byte, error) {
	if a, ok := v.(Appender); ok {
		// One allocation for the hot messages (claims, grants, Raft
		// batches of a command) instead of growing from nothing.
		return a.AppendMsgpack(make([]byte, 0, encodeCap)), nil
	}
	return msgpack.Marshal(v)
}

// Decode decodes a msgpack payload into v, wrapping failures in ErrMalformed.
// It refuses a payload whose maps and arrays nest more than 100 deep.
func Decode(b []byte, v any) error {
	if err := checkValue(b); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if p, ok := v.(Parser); ok && p.ParseMsgpack(b) {
		return nil
	}
	if err := msgpack.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
