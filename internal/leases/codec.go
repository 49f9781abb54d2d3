package leases

import (
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// Commands and results travel in every request to the voters and in
// every log entry, so they write and read their msgpack form by hand:
// the maps msgpack writes for the structs (same keys, empty fields
// left out), which msgpack.Unmarshal decodes into the same values. The
// readers take those plain forms, keys in any order, and report false
// for anything else, which the caller then hands to msgpack: they change
// how fast a batch decodes, never what it decodes to.

// AppendCmds appends cmds as a msgpack array of command maps.
func AppendCmds(b []byte, cmds []Cmd) []byte {
	b = wire.AppendArrayLen(b, len(cmds))
	for i := range cmds {
		b = appendCmd(b, &cmds[i])
	}
	return b
}

// EncodedSize is room enough, most of the time, for AppendCmds of cmds:
// an estimate that saves growing the buffer on the way.
func EncodedSize(cmds []Cmd) int {
	n := 8
	for i := range cmds {
		// A free (a relayed release) repeats the key and a holder.
		n += 96 + 2*len(cmds[i].Key) + 2*(len(cmds[i].Holder.Owner)+len(cmds[i].Holder.Node))
	}
	return n
}

func appendCmd(b []byte, c *Cmd) []byte {
	n := 2 + wire.Count(c.Key != "", c.Token != 0, c.TTL != 0, c.Seq != 0, c.Free != nil, c.Preempt, c.Quiet)
	b = wire.AppendMapLen(b, n)
	b = wire.AppendUint(append(b, 0xa1, 'o'), uint64(c.Op))
	if c.Key != "" {
		b = wire.AppendStr(append(b, 0xa1, 'k'), c.Key)
	}
	b = appendHolder(append(b, 0xa1, 'h'), &c.Holder)
	if c.Token != 0 {
		b = wire.AppendUint(append(b, 0xa1, 't'), c.Token)
	}
	if c.TTL != 0 {
		b = wire.AppendInt(append(b, 0xa1, 'd'), int64(c.TTL))
	}
	if c.Seq != 0 {
		b = wire.AppendUint(append(b, 0xa1, 's'), c.Seq)
	}
	if c.Free != nil {
		b = appendCmd(append(b, 0xa1, 'f'), c.Free)
	}
	if c.Preempt {
		b = append(b, 0xa1, 'x', 0xc3)
	}
	if c.Quiet {
		b = append(b, 0xa1, 'q', 0xc3)
	}
	return b
}

func appendHolder(b []byte, h *Holder) []byte {
	b = wire.AppendMapLen(b, 2+wire.Count(h.Handle != 0, h.Priority != 0))
	b = wire.AppendStr(append(b, 0xa1, 'n'), h.Node)
	b = wire.AppendStr(append(b, 0xa1, 'o'), h.Owner)
	if h.Handle != 0 {
		b = wire.AppendUint(append(b, 0xa1, 'h'), h.Handle)
	}
	if h.Priority != 0 {
		b = wire.AppendInt(append(b, 0xa1, 'p'), int64(h.Priority))
	}
	return b
}

// AppendResults appends results as a msgpack array of result maps.
func AppendResults(b []byte, results []Result) []byte {
	b = wire.AppendArrayLen(b, len(results))
	for i := range results {
		r := &results[i]
		b = wire.AppendMapLen(b, wire.Count(r.OK, r.Token != 0, r.Holder != nil, r.Remaining != 0, r.Quiet, r.Preempt, r.Last != 0))
		if r.OK {
			b = append(b, 0xa2, 'o', 'k', 0xc3)
		}
		if r.Token != 0 {
			b = wire.AppendUint(append(b, 0xa1, 't'), r.Token)
		}
		if r.Holder != nil {
			b = appendHolder(append(b, 0xa1, 'h'), r.Holder)
		}
		if r.Remaining != 0 {
			b = wire.AppendInt(append(b, 0xa1, 'r'), int64(r.Remaining))
		}
		if r.Quiet {
			b = append(b, 0xa1, 'q', 0xc3)
		}
		if r.Preempt {
			b = append(b, 0xa1, 'x', 0xc3)
		}
		if r.Last != 0 {
			b = wire.AppendUint(append(b, 0xa1, 'l'), r.Last)
		}
	}
	return b
}

// ParseCmds reads the array AppendCmds writes and returns the rest of b.
func ParseCmds(b []byte) ([]Cmd, []byte, bool) { return parseArray(b, parseCmd) }

// ParseResults reads the array AppendResults writes and returns the rest
// of b.
func ParseResults(b []byte) ([]Result, []byte, bool) { return parseArray(b, parseResult) }

func parseArray[T any](b []byte, parse func([]byte, *T) ([]byte, bool)) ([]T, []byte, bool) {
	n, b, ok := wire.ReadArrayLen(b)
	if !ok {
		return nil, b, false
	}
	items := make([]T, n)
	for i := range items {
		if b, ok = parse(b, &items[i]); !ok {
			return nil, b, false
		}
	}
	return items, b, true
}

func parseCmd(b []byte, c *Cmd) ([]byte, bool) {
	return wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		var u uint64
		var v int64
		switch string(key) {
		case "o":
			u, b, ok = wire.ReadUint(b)
			ok = ok && u <= 0xff
			c.Op = Op(u)
		case "k":
			c.Key, b, ok = wire.ReadStr(b)
		case "h":
			b, ok = parseHolder(b, &c.Holder)
		case "t":
			c.Token, b, ok = wire.ReadUint(b)
		case "d":
			v, b, ok = wire.ReadInt(b)
			c.TTL = time.Duration(v)
		case "s":
			c.Seq, b, ok = wire.ReadUint(b)
		case "f":
			c.Free = new(Cmd)
			b, ok = parseCmd(b, c.Free)
		case "x":
			c.Preempt, b, ok = wire.ReadBool(b)
		case "q":
			c.Quiet, b, ok = wire.ReadBool(b)
		}
		return b, ok
	})
}

func parseHolder(b []byte, h *Holder) ([]byte, bool) {
	return wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		var v int64
		switch string(key) {
		case "n":
			h.Node, b, ok = wire.ReadStr(b)
		case "o":
			h.Owner, b, ok = wire.ReadStr(b)
		case "h":
			h.Handle, b, ok = wire.ReadUint(b)
		case "p":
			v, b, ok = wire.ReadInt(b)
			h.Priority = int(v)
			ok = ok && int64(h.Priority) == v
		}
		return b, ok
	})
}

func parseResult(b []byte, r *Result) ([]byte, bool) {
	return wire.ParseMap(b, func(key, b []byte) ([]byte, bool) {
		var ok bool
		var v int64
		switch string(key) {
		case "ok":
			r.OK, b, ok = wire.ReadBool(b)
		case "t":
			r.Token, b, ok = wire.ReadUint(b)
		case "h":
			r.Holder = new(Holder)
			b, ok = parseHolder(b, r.Holder)
		case "r":
			v, b, ok = wire.ReadInt(b)
			r.Remaining = time.Duration(v)
		case "q":
			r.Quiet, b, ok = wire.ReadBool(b)
		case "x":
			r.Preempt, b, ok = wire.ReadBool(b)
		case "l":
			r.Last, b, ok = wire.ReadUint(b)
		}
		return b, ok
	})
}
