package voters

import (
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/internal/wire"
)

func grantsResps() []grantsResp {
	return []grantsResp{
		{},
		{NotMember: true},
		{Grants: Grants{From: "n1", More: 3, Grants: []Grant{
			{Key: "l/a", Node: "n2", Owner: "m", Handle: 4, Token: 1 << 50, Remaining: time.Second},
			{Key: "e/g", Node: "n3", Owner: "n3", Token: 9},
		}}},
	}
}

// The listing's messages decode, as the RPC layer decodes them, to what
// was encoded.
func TestGrantsCodec(t *testing.T) {
	for i, want := range grantsResps() {
		b, err := wire.Encode(want)
		if err != nil {
			t.Fatal(err)
		}
		var got grantsResp
		if err := wire.Decode(b, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%d: decoded %+v, %v; want %+v", i, got, err, want)
		}
	}
	want := grantsReq{Group: 1 << 60, Max: MaxGrants}
	b, _ := wire.Encode(want)
	var got grantsReq
	if err := wire.Decode(b, &got); err != nil || got != want {
		t.Errorf("request decoded %+v, %v; want %+v", got, err, want)
	}
}

// FuzzGrantsResp: any bytes decode to a listing or an error, never a
// panic, and a listing that decodes is bounded by boundGrants and
// encodes again to one that decodes the same.
func FuzzGrantsResp(f *testing.F) {
	for _, r := range grantsResps() {
		b, err := msgpack.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0x81, 0xa1, 'l', 0x81, 0xa1, 'g', 0xdd, 0xff, 0xff, 0xff, 0xff}) // an array declared huge
	f.Fuzz(func(t *testing.T, b []byte) {
		var r grantsResp
		if err := wire.Decode(b, &r); err != nil {
			return
		}
		g := boundGrants(r.Grants, 2)
		if len(g.Grants) > 2 || g.More < 0 {
			t.Fatalf("boundGrants(%+v, 2) = %+v", r.Grants, g)
		}
		again, err := wire.Encode(r)
		if err != nil {
			t.Fatalf("encode %+v: %v", r, err)
		}
		var r2 grantsResp
		if err := wire.Decode(again, &r2); err != nil || !reflect.DeepEqual(normGrants(r2), normGrants(r)) {
			t.Fatalf("%x decoded %+v; encoded again, %+v, %v", b, r, r2, err)
		}
	})
}

// FuzzGrantsReq: any bytes decode to a request or an error, never a
// panic.
func FuzzGrantsReq(f *testing.F) {
	b, _ := msgpack.Marshal(grantsReq{Group: 7, Max: 10})
	f.Add(b)
	f.Add([]byte{0x82, 0xa1, 'm', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}) // a negative Max
	f.Fuzz(func(t *testing.T, b []byte) {
		var r grantsReq
		_ = wire.Decode(b, &r)
	})
}

// normGrants makes a nil and an empty listing alike, as the wire does
// not keep the difference.
func normGrants(r grantsResp) grantsResp {
	if len(r.Grants.Grants) == 0 {
		r.Grants.Grants = nil
	}
	return r
}
