package nfq

import (
	"encoding/binary"
	"slices"
	"testing"
)

// packetMsg builds one NFQNL_MSG_PACKET message as the kernel sends it:
// a netlink header, nfgenmsg, an attribute before the packet header (as
// the kernel may put others first) and NFQA_PACKET_HDR.
func packetMsg(id uint32) []byte {
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, 3) // hw protocol, hook
	body := append([]byte{2, 0, 0, 7}, attr(9, []byte{1, 2, 3, 4, 5})...)
	body = append(body, attr(attrPacketHdr, hdr)...)
	m := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
	m = binary.NativeEndian.AppendUint16(m, msgPacket)
	m = append(m, make([]byte, 10)...) // flags, seq, pid
	return append(m, body...)
}

func TestPacketIDs(t *testing.T) {
	var b []byte
	for _, id := range []uint32{1, 7, 1 << 31} {
		b = append(b, packetMsg(id)...)
	}
	ids, bad := PacketIDs(b)
	if !slices.Equal(ids, []uint32{1, 7, 1 << 31}) || bad != 0 {
		t.Fatalf("got %v, %d bad", ids, bad)
	}
	// A message of another type is skipped; one cut short is counted.
	other := packetMsg(9)
	binary.NativeEndian.PutUint16(other[4:6], msgConfig)
	ids, bad = PacketIDs(append(other, packetMsg(3)[:20]...))
	if len(ids) != 0 || bad != 1 {
		t.Fatalf("got %v, %d bad; want none, 1 bad", ids, bad)
	}
	// A packet message without the packet header is bad.
	m := packetMsg(5)[:nlmsgHdrLen+4+12]
	binary.NativeEndian.PutUint32(m[0:4], uint32(len(m)))
	if ids, bad := PacketIDs(m); len(ids) != 0 || bad != 1 {
		t.Fatalf("got %v, %d bad; want none, 1 bad", ids, bad)
	}
}

// FuzzPacketIDs feeds the datagram parser arbitrary bytes: it must not
// panic, and it cannot find more packets than the bytes hold messages.
func FuzzPacketIDs(f *testing.F) {
	f.Add(packetMsg(42))
	f.Add(append(packetMsg(1), packetMsg(2)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, bad := PacketIDs(b)
		if bad < 0 || len(ids) > len(b)/nlmsgHdrLen {
			t.Fatalf("%d ids, %d bad from %d bytes", len(ids), bad, len(b))
		}
	})
}
