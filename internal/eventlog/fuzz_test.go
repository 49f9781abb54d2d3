package eventlog

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func msgpackMarshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

// FuzzRestore: any bytes either restore a table that keeps its
// invariants or are refused; nothing panics.
func FuzzRestore(f *testing.F) {
	tb := newTable()
	tb.Apply([]Cmd{{Op: OpPublish, Topic: "a", Now: 1, Events: []Event{{Payload: []byte("x"), Key: "k"}, {Payload: []byte("y")}}}})
	tb.Apply([]Cmd{{Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 1, AckWait: 1, From: 1}})
	good, _ := tb.Snapshot()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x81, 0xa1, 't', 0x91, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := newTable()
		if tb.Restore(data) != nil {
			return
		}
		check(t, tb)
		tb.Apply([]Cmd{{Op: OpPublish, Topic: "a", Events: []Event{{Payload: []byte("z")}}}, {Op: OpFetch, Topic: "a", Group: "g", Member: "m", Max: 3, AckWait: 1}, {Op: OpExpire, Topic: "a", Group: "g", Now: 10}})
		check(t, tb)
	})
}
