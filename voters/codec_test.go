package voters

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func raftBatches() []raftBatch {
	return []raftBatch{
		{},
		{Group: 1, To: 2, Msgs: [][]byte{{}}},
		{Group: 0x7f, To: 0x80, Msgs: [][]byte{[]byte("a"), bytes.Repeat([]byte{1}, 300)}},
		{Group: 1 << 40, To: ^uint64(0), Msgs: make([][]byte, 20)},
	}
}

// norm makes nil and empty alike, as the wire does not keep the difference.
func norm(r raftBatch) raftBatch {
	if len(r.Msgs) == 0 {
		r.Msgs = nil
	}
	for i, m := range r.Msgs {
		if len(m) == 0 {
			r.Msgs[i] = nil
		}
	}
	return r
}

// TestRaftBatchCodec: msgpack reads what AppendMsgpack writes, and
// ParseMsgpack reads it back the same.
func TestRaftBatchCodec(t *testing.T) {
	for i, want := range raftBatches() {
		b := want.AppendMsgpack(nil)
		var viaMsgpack, viaParse raftBatch
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("batch %d: msgpack cannot read it: %v", i, err)
		}
		if !viaParse.ParseMsgpack(b) {
			t.Fatalf("batch %d: ParseMsgpack refused its own form", i)
		}
		for _, got := range []raftBatch{viaMsgpack, viaParse} {
			if !reflect.DeepEqual(norm(got), norm(want)) {
				t.Fatalf("batch %d: read %+v, want %+v", i, got, want)
			}
		}
	}
}

// FuzzRaftBatchAgreesWithMsgpack: whatever ParseMsgpack reads, msgpack
// reads the same.
func FuzzRaftBatchAgreesWithMsgpack(f *testing.F) {
	for _, r := range raftBatches() {
		f.Add(r.AppendMsgpack(nil))
		b, err := msgpack.Marshal(&r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var viaParse raftBatch
		if !viaParse.ParseMsgpack(b) {
			if !reflect.DeepEqual(viaParse, raftBatch{}) {
				t.Fatalf("a refused parse changed the batch: %+v", viaParse)
			}
			return
		}
		var viaMsgpack raftBatch
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("ParseMsgpack read %+v from %x, which msgpack refuses: %v", viaParse, b, err)
		}
		if !reflect.DeepEqual(norm(viaParse), norm(viaMsgpack)) {
			t.Fatalf("%x: ParseMsgpack read %+v, msgpack %+v", b, viaParse, viaMsgpack)
		}
	})
}
