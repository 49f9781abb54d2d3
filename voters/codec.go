package voters

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// raftBatch is the message sent most (several per command and per
// member), so it writes and reads its msgpack form by hand (wire.Appender
// and wire.Parser): the same map msgpack writes for the struct, whose
// other forms msgpack still decodes.

// AppendMsgpack appends the batch as a msgpack map.
func (r *raftBatch) AppendMsgpack(b []byte) []byte {
	size := 16
	for _, m := range r.Msgs {
		size += len(m) + 5
	}
	if cap(b)-len(b) < size {
		b = append(make([]byte, 0, len(b)+size), b...)
	}
	b = wire.AppendMapLen(b, 3)
	b = wire.AppendUint(append(b, 0xa1, 'g'), r.Group)
	b = wire.AppendUint(append(b, 0xa1, 't'), r.To)
	b = wire.AppendArrayLen(append(b, 0xa1, 'm'), len(r.Msgs))
	for _, m := range r.Msgs {
		b = wire.AppendBin(b, m)
	}
	return b
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form. The messages share b's
// memory.
func (r *raftBatch) ParseMsgpack(b []byte) bool {
	n, b, ok := wire.ReadMapLen(b)
	if !ok {
		return false
	}
	var out raftBatch
	for range n {
		var key byte
		if key, b, ok = wire.ReadKey(b); !ok {
			return false
		}
		switch key {
		case 'g':
			out.Group, b, ok = wire.ReadUint(b)
		case 't':
			out.To, b, ok = wire.ReadUint(b)
		case 'm':
			var k int
			if k, b, ok = wire.ReadArrayLen(b); !ok {
				return false
			}
			out.Msgs = make([][]byte, k)
			for i := range out.Msgs {
				if out.Msgs[i], b, ok = wire.ReadBin(b); !ok {
					return false
				}
			}
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	*r = out
	return true
}

// doReq and doResp carry every command to the leader and every result
// back; their commands and results are written by hand too (leases'
// codec).

// AppendMsgpack appends the request as a msgpack map. Event commands
// are encoded by msgpack itself (ParseMsgpack then leaves the request
// to it too).
func (r doReq) AppendMsgpack(b []byte) []byte {
	if len(r.Events) > 0 {
		return appendGeneric(b, r)
	}
	b = wire.AppendMapLen(b, 2+wire.Count(r.Appended))
	b = wire.AppendUint(append(b, 0xa1, 'g'), r.Group)
	if r.Appended {
		b = append(b, 0xa1, 'a', 0xc3)
	}
	return leases.AppendCmds(append(b, 0xa1, 'c'), r.Cmds)
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form.
func (r *doReq) ParseMsgpack(b []byte) bool {
	var out doReq
	b, ok := wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		switch string(key) {
		case "g":
			out.Group, b, ok = wire.ReadUint(b)
		case "c":
			out.Cmds, b, ok = leases.ParseCmds(b)
		case "a":
			out.Appended, b, ok = wire.ReadBool(b)
		}
		return b, ok
	})
	if !ok || len(b) != 0 {
		return false
	}
	*r = out
	return true
}

// AppendMsgpack appends the response as a msgpack map of its non-empty
// fields.
func (r doResp) AppendMsgpack(b []byte) []byte {
	if len(r.Events) > 0 {
		return appendGeneric(b, r)
	}
	b = wire.AppendMapLen(b, wire.Count(len(r.Results) > 0, r.NotLeader, r.Leader != "", r.Group != 0))
	if len(r.Results) > 0 {
		b = leases.AppendResults(append(b, 0xa1, 'r'), r.Results)
	}
	if r.NotLeader {
		b = append(b, 0xa1, 'n', 0xc3)
	}
	if r.Leader != "" {
		b = wire.AppendStr(append(b, 0xa1, 'l'), r.Leader)
	}
	if r.Group != 0 {
		b = wire.AppendUint(append(b, 0xa1, 'g'), r.Group)
	}
	return b
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form.
func (r *doResp) ParseMsgpack(b []byte) bool {
	var out doResp
	b, ok := wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		switch string(key) {
		case "r":
			out.Results, b, ok = leases.ParseResults(b)
		case "n":
			out.NotLeader, b, ok = wire.ReadBool(b)
		case "l":
			out.Leader, b, ok = wire.ReadStr(b)
		case "g":
			out.Group, b, ok = wire.ReadUint(b)
		}
		return b, ok
	})
	if !ok || len(b) != 0 {
		return false
	}
	*r = out
	return true
}

// appendGeneric appends v as msgpack encodes it by its struct tags, which
// the parsers above refuse (a key they do not know) and leave to msgpack.
func appendGeneric(b []byte, v any) []byte {
	enc, err := msgpack.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("voters: encode %T: %v", v, err)) // plain structs of known types: cannot fail
	}
	return append(b, enc...)
}
