package wire

import (
	"encoding/binary"
	"math"
)

// The frame header is a msgpack map with short keys (see Frame). Every
// frame goes through Marshal and Unmarshal, so they encode and decode the
// header by hand instead of by reflection: appendHeader writes the map
// that msgpack.Marshal would (integers in their shortest form, which any
// msgpack decoder reads), and parseHeader reads the maps such encoders
// write. Anything else parseHeader leaves to msgpack.Unmarshal, so the
// frames accepted, and how they decode, stay exactly msgpack's; the fuzz
// test checks that both agree.

// appendHeader appends f's header map to b.
func appendHeader(b []byte, f *Frame) []byte {
	n := 0
	for _, set := range [...]bool{f.ID != 0, f.Method != "", f.Timeout != 0, f.Code != "", f.Message != "", len(f.Body) > 0, len(f.Stamp) > 0} {
		if set {
			n++
		}
	}
	b = append(b, 0x80|byte(n)) // fixmap: at most 7 entries
	if f.ID != 0 {
		b = AppendUint(append(b, 0xa1, 'i'), f.ID)
	}
	if f.Method != "" {
		b = AppendStr(append(b, 0xa1, 'm'), f.Method)
	}
	if f.Timeout != 0 {
		b = AppendInt(append(b, 0xa1, 't'), f.Timeout)
	}
	if f.Code != "" {
		b = AppendStr(append(b, 0xa1, 'c'), f.Code)
	}
	if f.Message != "" {
		b = AppendStr(append(b, 0xa1, 'e'), f.Message)
	}
	if len(f.Body) > 0 {
		b = AppendBin(append(b, 0xa1, 'b'), f.Body)
	}
	if len(f.Stamp) > 0 {
		b = AppendBin(append(b, 0xa1, 's'), f.Stamp)
	}
	return b
}

// AppendUint appends v as a msgpack unsigned integer, in its shortest form.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// AppendInt appends v as a msgpack integer.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendUint(b, uint64(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// AppendStr appends s as a msgpack string.
func AppendStr(b []byte, s string) []byte {
	if n := len(s); n <= 31 {
		b = append(b, 0xa0|byte(n))
	} else {
		b = appendLen(b, n, 0xd9)
	}
	return append(b, s...)
}

// appendLen appends the header of a str (c8 0xd9) or bin (c8 0xc4) of n
// bytes in its 8-, 16- or 32-bit form, whose codes follow c8.
func appendLen(b []byte, n int, c8 byte) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, c8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, c8+1), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, c8+2), uint32(n))
}

// AppendBin appends p as msgpack binary.
func AppendBin(b []byte, p []byte) []byte {
	return append(appendLen(b, len(p), 0xc4), p...)
}

// parseHeader decodes a header map of known keys and plain values into f
// and reports whether it could; false leaves the header to msgpack. The
// header has passed checkValue, so every length in it is in bounds.
func parseHeader(b []byte, f *Frame) bool {
	if len(b) == 0 || b[0]&0xf0 != 0x80 {
		return false // not a fixmap: msgpack decides
	}
	n := int(b[0] & 0x0f)
	b = b[1:]
	for range n {
		key, rest, ok := ReadKey(b)
		if !ok {
			return false // a key that is not one short string
		}
		b = rest
		switch key {
		case 'i':
			f.ID, b, ok = ReadUint(b)
		case 't':
			var v uint64
			v, b, ok = ReadUint(b)
			ok = ok && v <= math.MaxInt64
			f.Timeout = int64(v)
		case 'm':
			f.Method, b, ok = ReadStr(b)
		case 'c':
			f.Code, b, ok = ReadStr(b)
		case 'e':
			f.Message, b, ok = ReadStr(b)
		case 'b':
			f.Body, b, ok = readBinCopy(b)
		case 's':
			f.Stamp, b, ok = readBinCopy(b)
		}
		if !ok {
			return false // an unknown key or another form of value
		}
	}
	return true
}

// ReadUint reads a non-negative integer in any unsigned form (positive
// fixint, uint 8 to 64) and returns the rest of b; false if b starts with
// anything else.
func ReadUint(b []byte) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, b, false
	}
	c := b[0]
	if c <= 0x7f {
		return uint64(c), b[1:], true
	}
	var size int
	switch c {
	case 0xcc:
		size = 1
	case 0xcd:
		size = 2
	case 0xce:
		size = 4
	case 0xcf:
		size = 8
	default:
		return 0, b, false
	}
	return readBE(b, size)
}

// readBE reads the size-byte big-endian number after b's type byte.
func readBE(b []byte, size int) (uint64, []byte, bool) {
	if len(b) < 1+size {
		return 0, b, false
	}
	var v uint64
	for _, x := range b[1 : 1+size] {
		v = v<<8 | uint64(x)
	}
	return v, b[1+size:], true
}

// ReadInt reads an integer in any msgpack form that fits an int64
// (fixints, int 8 to 64, uint 8 to 64 up to math.MaxInt64).
func ReadInt(b []byte) (int64, []byte, bool) {
	if v, rest, ok := ReadUint(b); ok {
		return int64(v), rest, v <= math.MaxInt64
	}
	if len(b) == 0 {
		return 0, b, false
	}
	c := b[0]
	if c >= 0xe0 {
		return int64(int8(c)), b[1:], true
	}
	var size int
	switch c {
	case 0xd0:
		size = 1
	case 0xd1:
		size = 2
	case 0xd2:
		size = 4
	case 0xd3:
		size = 8
	default:
		return 0, b, false
	}
	v, rest, ok := readBE(b, size)
	shift := 64 - 8*size // sign-extend from size bytes
	return int64(v<<shift) >> shift, rest, ok
}

// ReadBool reads true or false.
func ReadBool(b []byte) (bool, []byte, bool) {
	if len(b) == 0 || b[0] != 0xc2 && b[0] != 0xc3 {
		return false, b, false
	}
	return b[0] == 0xc3, b[1:], true
}

// ReadStrBytes reads a string in fixstr or str 8 to 32 form; the result
// shares b's memory.
func ReadStrBytes(b []byte) ([]byte, []byte, bool) { return readRaw(b, false) }

// ReadStr reads a string in fixstr or str 8 to 32 form.
func ReadStr(b []byte) (string, []byte, bool) {
	p, rest, ok := readRaw(b, false)
	return string(p), rest, ok
}

// readBinCopy reads bytes in bin 8 to 32 form; the result is a copy, nil
// when empty.
func readBinCopy(b []byte) ([]byte, []byte, bool) {
	p, rest, ok := readRaw(b, true)
	if !ok || len(p) == 0 {
		return nil, rest, ok
	}
	return append([]byte(nil), p...), rest, true
}

// ReadBin reads bytes in bin 8 to 32 form; the result shares b's memory.
func ReadBin(b []byte) ([]byte, []byte, bool) { return readRaw(b, true) }

// AppendArrayLen appends the header of a msgpack array of n items.
func AppendArrayLen(b []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

// ReadArrayLen reads the header of a msgpack array and returns its
// length, which is at most len(b) (every item takes a byte).
func ReadArrayLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, b, false
	}
	var hdr, n int
	switch c := b[0]; {
	case c&0xf0 == 0x90:
		hdr, n = 1, int(c&0x0f)
	case c == 0xdc && len(b) >= 3:
		hdr, n = 3, int(binary.BigEndian.Uint16(b[1:]))
	case c == 0xdd && len(b) >= 5:
		hdr, n = 5, int(binary.BigEndian.Uint32(b[1:]))
	default:
		return 0, b, false
	}
	if n > len(b)-hdr {
		return 0, b, false
	}
	return n, b[hdr:], true
}

// ReadKey reads a one-byte fixstr map key ("g"), the form Append writers
// here use for struct fields; false for any other key.
func ReadKey(b []byte) (byte, []byte, bool) {
	if len(b) < 2 || b[0] != 0xa1 {
		return 0, b, false
	}
	return b[1], b[2:], true
}

func readRaw(b []byte, bin bool) ([]byte, []byte, bool) {
	if len(b) == 0 {
		return nil, b, false
	}
	c := b[0]
	var hdr, n int
	switch {
	case !bin && c&0xe0 == 0xa0:
		hdr, n = 1, int(c&0x1f)
	case !bin && c == 0xd9, bin && c == 0xc4:
		if len(b) < 2 {
			return nil, b, false
		}
		hdr, n = 2, int(b[1])
	case !bin && c == 0xda, bin && c == 0xc5:
		if len(b) < 3 {
			return nil, b, false
		}
		hdr, n = 3, int(binary.BigEndian.Uint16(b[1:]))
	case !bin && c == 0xdb, bin && c == 0xc6:
		if len(b) < 5 {
			return nil, b, false
		}
		hdr, n = 5, int(binary.BigEndian.Uint32(b[1:]))
	default:
		return nil, b, false
	}
	if len(b) < hdr+n {
		return nil, b, false
	}
	return b[hdr : hdr+n], b[hdr+n:], true
}

// AppendMapLen appends the header of a msgpack map of n (at most 15)
// entries.
func AppendMapLen(b []byte, n int) []byte { return append(b, 0x80|byte(n&0x0f)) }

// ReadMapLen reads the header of a msgpack map of at most 15 entries;
// false for any other form.
func ReadMapLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 || b[0]&0xf0 != 0x80 {
		return 0, b, false
	}
	return int(b[0] & 0x0f), b[1:], true
}

// FirstKey records a map key that starts with key ('a' to 'z') in seen
// and reports false for one seen before. The hand-written readers of
// payloads use it to refuse a map with a repeated key, which msgpack
// never writes and whose meaning is then msgpack's to say; the keys of
// each of their maps differ in their first letter. Any other key is
// let through (the reader refuses it as unknown).
func FirstKey(seen *uint32, key byte) bool {
	if key < 'a' || key > 'z' {
		return true
	}
	bit := uint32(1) << (key - 'a')
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// ParseMap reads a msgpack map of at most 15 entries whose keys are
// strings that differ in their first letter, each once; field reads the
// value of each key (false: a key it does not know, or a value it
// cannot read). It returns the rest of b.
func ParseMap(b []byte, field func(key, b []byte) ([]byte, bool)) ([]byte, bool) {
	n, b, ok := ReadMapLen(b)
	var seen uint32
	for i := 0; ok && i < n; i++ {
		var key []byte
		if key, b, ok = ReadStrBytes(b); !ok || len(key) == 0 || !FirstKey(&seen, key[0]) {
			return b, false
		}
		b, ok = field(key, b)
	}
	return b, ok
}

// Count returns how many of conds hold: the size of a map whose empty
// fields are left out.
func Count(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}

// Appender is a payload that writes its own msgpack form, which Encode
// then uses instead of reflection. The form must be one msgpack.Unmarshal
// decodes into the same value.
type Appender interface {
	AppendMsgpack(b []byte) []byte
}

// Parser is a payload that reads the plain msgpack forms it writes, which
// Decode tries before reflection. ParseMsgpack returns false, leaving the
// value as it was, for anything it does not read; msgpack then decodes
// it, so a Parser changes how fast a payload decodes, never what.
type Parser interface {
	ParseMsgpack(b []byte) bool
}
