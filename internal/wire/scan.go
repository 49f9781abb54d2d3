package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxDepth is how deeply maps and arrays may nest in a frame header or
// payload. The msgpack decoder recurses once per level, even to skip an
// unknown field, so without a bound a 4 MiB frame of nested one-element
// arrays costs about 1 GB of stack and can crash the process.
const maxDepth = 100

var (
	errTruncated = errors.New("msgpack value truncated")
	errTooDeep   = fmt.Errorf("msgpack value nested deeper than %d", maxDepth)
)

// checkValue walks the first msgpack value in b without recursion and
// reports whether it is complete and nests no deeper than maxDepth. It
// allocates nothing. Bytes after the value are not examined.
func checkValue(b []byte) error {
	var stack [maxDepth]int // items still to read in each open map or array
	depth := 0
	for {
		if len(b) == 0 {
			return errTruncated
		}
		skip, items, err := measure(b)
		if err != nil {
			return err
		}
		if skip > len(b) {
			return errTruncated
		}
		b = b[skip:]
		if items > 0 {
			// Each item takes at least a byte: refuse impossible counts early.
			if items > len(b) {
				return errTruncated
			}
			if depth == maxDepth {
				return errTooDeep
			}
			stack[depth] = items
			depth++
			continue
		}
		// A value is complete; close every container it completes.
		for {
			if depth == 0 {
				return nil
			}
			stack[depth-1]--
			if stack[depth-1] > 0 {
				break
			}
			depth--
		}
	}
}

// measure decodes the code at b[0]. A scalar takes skip bytes in all and
// has items == 0; a map or array takes skip bytes of header and is followed
// by items values (two per map entry).
func measure(b []byte) (skip, items int, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, 0, nil // fixint, nil, bool
	case c <= 0x8f:
		return 1, 2 * int(c&0x0f), nil // fixmap
	case c <= 0x9f:
		return 1, int(c & 0x0f), nil // fixarray
	case c <= 0xbf:
		return 1 + int(c&0x1f), 0, nil // fixstr
	}
	switch c {
	case 0xcc, 0xd0:
		return 2, 0, nil
	case 0xcd, 0xd1:
		return 3, 0, nil
	case 0xca, 0xce, 0xd2:
		return 5, 0, nil
	case 0xcb, 0xcf, 0xd3:
		return 9, 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type byte + data
		return 2 + 1<<(c-0xd4), 0, nil
	case 0xc4, 0xd9: // bin8, str8
		n, err := length(b, 1)
		return 2 + n, 0, err
	case 0xc5, 0xda: // bin16, str16
		n, err := length(b, 2)
		return 3 + n, 0, err
	case 0xc6, 0xdb: // bin32, str32
		n, err := length(b, 4)
		return 5 + n, 0, err
	case 0xc7: // ext8: length, type, data
		n, err := length(b, 1)
		return 3 + n, 0, err
	case 0xc8: // ext16
		n, err := length(b, 2)
		return 4 + n, 0, err
	case 0xc9: // ext32
		n, err := length(b, 4)
		return 6 + n, 0, err
	case 0xdc: // array16
		n, err := length(b, 2)
		return 3, n, err
	case 0xdd: // array32
		n, err := length(b, 4)
		return 5, n, err
	case 0xde: // map16
		n, err := length(b, 2)
		return 3, 2 * n, err
	case 0xdf: // map32
		n, err := length(b, 4)
		return 5, 2 * n, err
	}
	return 0, 0, fmt.Errorf("invalid msgpack code %#x", c)
}

// length reads the size-byte big-endian length that follows the code at
// b[0]. A length longer than b itself cannot be complete and is reported as
// truncated, which also keeps it from overflowing int.
func length(b []byte, size int) (int, error) {
	if len(b) < 1+size {
		return 0, errTruncated
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
	default:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	if n > uint64(len(b)) {
		return 0, errTruncated
	}
	return int(n), nil
}

// Check reports, wrapped in ErrMalformed, whether b starts with a
// complete msgpack value that nests no deeper than 100 and declares no
// more map or array items than it holds bytes for. Decode runs it; a
// caller that decodes with a msgpack.Decoder of its own runs it first,
// because msgpack v5.4.1 makes a slice as long as its header declares
// before reading any element (its allocation limit is never on): twelve
// bytes could otherwise ask for hundreds of gigabytes.
func Check(b []byte) error {
	if err := checkValue(b); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
