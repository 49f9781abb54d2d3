// Package wiretest checks payloads whose msgpack form is written and
// read by hand (wire.Appender, wire.Parser) against msgpack itself.
package wiretest

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// norm makes nil and empty top-level slices alike, as the wire does not
// keep the difference. T is a struct.
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Slice && f.Len() == 0 {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return v
}

// Payload is a pointer to a payload with a hand-written msgpack form
// (wire.Appender and wire.Parser).
type Payload[T any] interface {
	*T
	AppendMsgpack([]byte) []byte
	ParseMsgpack([]byte) bool
}

// RoundTrip: msgpack reads what AppendMsgpack writes, and ParseMsgpack
// reads it back the same.
func RoundTrip[T any, P Payload[T]](t testing.TB, values []T) {
	t.Helper()
	for i, want := range values {
		b := P(&want).AppendMsgpack(nil)
		var viaMsgpack, viaParse T
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("%d: msgpack cannot read it: %v", i, err)
		}
		if !P(&viaParse).ParseMsgpack(b) {
			t.Fatalf("%d: ParseMsgpack refused its own form %x", i, b)
		}
		for _, got := range []T{viaMsgpack, viaParse} {
			if !reflect.DeepEqual(norm(got), norm(want)) {
				t.Fatalf("%d: read %+v, want %+v", i, got, want)
			}
		}
	}
}

// Agrees: whatever ParseMsgpack reads from b, msgpack reads the same; a
// refused parse leaves the value as it was.
func Agrees[T any, P Payload[T]](t testing.TB, b []byte) {
	t.Helper()
	var viaParse, zero T
	if !P(&viaParse).ParseMsgpack(b) {
		if !reflect.DeepEqual(viaParse, zero) {
			t.Fatalf("a refused parse changed the value: %+v", viaParse)
		}
		return
	}
	var viaMsgpack T
	if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
		t.Fatalf("ParseMsgpack read %+v from %x, which msgpack refuses: %v", viaParse, b, err)
	}
	if !reflect.DeepEqual(norm(viaParse), norm(viaMsgpack)) {
		t.Fatalf("%x: ParseMsgpack read %+v, msgpack %+v", b, viaParse, viaMsgpack)
	}
}

// Seeds adds each value's AppendMsgpack form and msgpack's form of
// it to f's corpus.
func Seeds[T any, P Payload[T]](f *testing.F, values []T) {
	for _, v := range values {
		f.Add(P(&v).AppendMsgpack(nil))
		b, err := msgpack.Marshal(&v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
