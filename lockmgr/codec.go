package lockmgr

import (
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// An Acquire sends an acquireReq and gets an acquireResp, and a Release
// sends a wakeReq: they write and read their msgpack form by hand
// (wire.Appender and wire.Parser), the maps msgpack writes for the
// structs, whose other forms msgpack still decodes.

// AppendMsgpack appends the request as a msgpack map.
func (r acquireReq) AppendMsgpack(b []byte) []byte {
	b = wire.AppendMapLen(b, 5+wire.Count(r.Try))
	b = wire.AppendStr(append(b, 0xa1, 'i'), r.ID)
	b = r.Holder.append(append(b, 0xa1, 'h'))
	b = wire.AppendInt(append(b, 0xa1, 'd'), int64(r.TTL))
	if r.Try {
		b = append(b, 0xa1, 'y', 0xc3)
	}
	b = appendBool(append(b, 0xa1, 'q'), r.Quorum)
	return wire.AppendInt(append(b, 0xa1, 'r'), int64(r.Replicas))
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form.
func (r *acquireReq) ParseMsgpack(b []byte) bool {
	var out acquireReq
	b, ok := wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var v int64
		var ok bool
		switch string(key) {
		case "i":
			out.ID, b, ok = wire.ReadStr(b)
		case "h":
			b, ok = out.Holder.parse(b)
		case "d":
			v, b, ok = wire.ReadInt(b)
			out.TTL = time.Duration(v)
		case "y":
			out.Try, b, ok = wire.ReadBool(b)
		case "q":
			out.Quorum, b, ok = wire.ReadBool(b)
		case "r":
			v, b, ok = wire.ReadInt(b)
			out.Replicas = int(v)
			ok = ok && int64(out.Replicas) == v
		}
		return b, ok
	})
	if !ok || len(b) != 0 {
		return false
	}
	*r = out
	return true
}

// AppendMsgpack appends the response as a msgpack map.
func (r acquireResp) AppendMsgpack(b []byte) []byte {
	b = wire.AppendMapLen(b, 2)
	b = wire.AppendUint(append(b, 0xa1, 't'), r.Token)
	return wire.AppendInt(append(b, 0xa1, 'w'), int64(r.Waited))
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form.
func (r *acquireResp) ParseMsgpack(b []byte) bool {
	var out acquireResp
	b, ok := wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var v int64
		var ok bool
		switch string(key) {
		case "t":
			out.Token, b, ok = wire.ReadUint(b)
		case "w":
			v, b, ok = wire.ReadInt(b)
			out.Waited = time.Duration(v)
		}
		return b, ok
	})
	if !ok || len(b) != 0 {
		return false
	}
	*r = out
	return true
}

// AppendMsgpack appends the wake as a msgpack map.
func (r wakeReq) AppendMsgpack(b []byte) []byte {
	b = wire.AppendMapLen(b, 2)
	b = wire.AppendStr(append(b, 0xa1, 'i'), r.ID)
	rel := &r.Release
	b = wire.AppendMapLen(append(b, 0xa1, 'r'), 3+wire.Count(rel.Final))
	b = wire.AppendStr(append(b, 0xa1, 'i'), rel.ID)
	b = wire.AppendUint(append(b, 0xa1, 't'), rel.Token)
	b = rel.Holder.append(append(b, 0xa1, 'h'))
	if rel.Final {
		b = append(b, 0xa1, 'f', 0xc3)
	}
	return b
}

// ParseMsgpack reads the map AppendMsgpack writes (keys in any order);
// false, leaving r as it was, for any other form.
func (r *wakeReq) ParseMsgpack(b []byte) bool {
	var out wakeReq
	b, ok := wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		switch string(key) {
		case "i":
			out.ID, b, ok = wire.ReadStr(b)
		case "r":
			rel := &out.Release
			b, ok = wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
				var ok bool
				switch string(key) {
				case "i":
					rel.ID, b, ok = wire.ReadStr(b)
				case "t":
					rel.Token, b, ok = wire.ReadUint(b)
				case "h":
					b, ok = rel.Holder.parse(b)
				case "f":
					rel.Final, b, ok = wire.ReadBool(b)
				}
				return b, ok
			})
		}
		return b, ok
	})
	if !ok || len(b) != 0 {
		return false
	}
	*r = out
	return true
}

func (h *holder) append(b []byte) []byte {
	b = wire.AppendMapLen(b, 3)
	b = wire.AppendStr(append(b, 0xa1, 'n'), h.Node)
	b = wire.AppendStr(append(b, 0xa1, 'm'), h.Mgr)
	return wire.AppendUint(append(b, 0xa1, 'h'), h.Handle)
}

func (h *holder) parse(b []byte) ([]byte, bool) {
	return wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		switch string(key) {
		case "n":
			h.Node, b, ok = wire.ReadStr(b)
		case "m":
			h.Mgr, b, ok = wire.ReadStr(b)
		case "h":
			h.Handle, b, ok = wire.ReadUint(b)
		}
		return b, ok
	})
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}
