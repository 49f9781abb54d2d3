package eventlog

import (
	"errors"
	"fmt"
	"time"
)

// Errors of commands and reads. A command's error travels in
// Result.Err as its code (Code) and comes back through Result.Error.
var (
	// ErrTruncated: the offset asked for is before the topic's first
	// (retention removed it).
	ErrTruncated = errors.New("eventlog: offset before the topic's first event (removed by retention)")
	// ErrNoTopic: the topic has never had an event (a read), or does not
	// exist (a group command).
	ErrNoTopic = errors.New("eventlog: no such topic")
	// ErrBadCmd: a command the table cannot apply (unknown op, empty
	// topic, a limit out of range).
	ErrBadCmd = errors.New("eventlog: malformed command")
)

// Op is what a command does.
type Op uint8

// The commands of a Table.
const (
	// OpPublish appends Events to Topic, each at the next offset, and
	// returns the first one's offset. An event whose Key is already in
	// the topic is not appended again: the result gives the offset it
	// has (Result.Offsets, one per event).
	OpPublish Op = iota + 1
	// OpConfigure sets Topic's retention: MaxAge and MaxBytes (0 keeps
	// what is set; a new topic starts with the table's defaults).
	OpConfigure
	// OpTrim removes Topic's events older than Now-MaxAge (the leader
	// proposes it when its clock says some are due).
	OpTrim
	// OpFetch hands Member of Group on Topic up to Max events that no
	// other member holds: those to deliver again first, then new ones
	// from the group's position (a new group starts at From). Each is
	// pending with Member until Now+AckWait. It creates the topic and
	// the group if need be: a group may start before the first event.
	OpFetch
	// OpAck ends the delivery of Offset to Member: the group is done with
	// it.
	OpAck
	// OpNack returns Offset, held by Member, to be delivered again at
	// once.
	OpNack
	// OpExpire returns the group's pending offsets whose deadline is not
	// after Now to be delivered again, or drops those delivered
	// MaxDeliveries times.
	OpExpire
	// OpDelete removes Topic with its events and groups, or (Group set)
	// only that group.
	OpDelete
	// OpPosition changes nothing and returns Topic's next offset as of
	// its place in the log (Result.Offsets[0]; 1 for a topic with no
	// event yet): a position no read of a member that lags can give.
	OpPosition
)

func (o Op) String() string {
	switch o {
	case OpPublish:
		return "publish"
	case OpConfigure:
		return "configure"
	case OpTrim:
		return "trim"
	case OpFetch:
		return "fetch"
	case OpAck:
		return "ack"
	case OpNack:
		return "nack"
	case OpExpire:
		return "expire"
	case OpDelete:
		return "delete"
	case OpPosition:
		return "position"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Event is one event of a topic.
type Event struct {
	Offset   uint64            `msgpack:"o"`
	Time     int64             `msgpack:"t"` // ns of cluster time; non-decreasing along the offsets
	Key      string            `msgpack:"k,omitempty"`
	Metadata map[string]string `msgpack:"m,omitempty"`
	Payload  []byte            `msgpack:"p,omitempty"`
	// Deliveries counts the times a group handed the event out, this one
	// included (in OpFetch's results only).
	Deliveries int `msgpack:"d,omitempty"`
	// Left is how long the group holds the event for the member as of
	// the fetch's Now, in ns of the log's time (in OpFetch's results
	// only): AckWait for a hand-out, what is left of it for one sent
	// again; at least 1 (0: a table that sets none). The leader stamps
	// Now after the fetch reaches it, so the hold lasts Left at least
	// from when the member sent the fetch, however late the answer.
	Left int64 `msgpack:"l,omitempty"`
}

// size is what an event counts against its topic's MaxBytes.
func (e *Event) size() int64 {
	n := int64(len(e.Payload) + len(e.Key))
	for k, v := range e.Metadata {
		n += int64(len(k) + len(v))
	}
	return n
}

// Cmd is one command to the table; the voters replicate commands in
// batches (one log entry, many commands).
type Cmd struct {
	Op     Op      `msgpack:"o"`
	Topic  string  `msgpack:"c"`
	Now    int64   `msgpack:"n,omitempty"` // ns of the proposer's cluster time
	Events []Event `msgpack:"e,omitempty"` // OpPublish: Offset and Deliveries are ignored

	MaxAge   time.Duration `msgpack:"a,omitempty"` // OpConfigure
	MaxBytes int64         `msgpack:"b,omitempty"` // OpConfigure

	Group         string        `msgpack:"g,omitempty"`
	Member        string        `msgpack:"m,omitempty"`
	Max           int           `msgpack:"x,omitempty"` // OpFetch
	From          uint64        `msgpack:"f,omitempty"` // OpFetch: a new group's first offset (0: the topic's next)
	AckWait       time.Duration `msgpack:"w,omitempty"` // OpFetch
	MaxDeliveries int           `msgpack:"r,omitempty"` // OpFetch (a new group's); OpExpire
	Offset        uint64        `msgpack:"s,omitempty"` // OpAck, OpNack
	// Request numbers a member's fetches (OpFetch; 0: not numbered): a
	// fetch whose number names offsets still out with the member is
	// the same fetch sent again, and gets those offsets back.
	Request uint64 `msgpack:"q,omitempty"`
}

// Result is what one command did.
type Result struct {
	Err     Code     `msgpack:"e,omitempty"`
	Offsets []uint64 `msgpack:"o,omitempty"` // OpPublish: each event's offset
	Times   []int64  `msgpack:"t,omitempty"` // OpPublish: each event's time
	Events  []Event  `msgpack:"v,omitempty"` // OpFetch
	Dropped int      `msgpack:"d,omitempty"` // OpExpire: offsets dropped after MaxDeliveries; OpTrim: events removed
}

// Code is a command's error on the wire.
type Code uint8

// The codes of Result.Err.
const (
	CodeOK Code = iota
	CodeBadCmd
	CodeNoTopic
	CodeTruncated
)

// Error returns the result's error, nil for none.
func (r Result) Error() error {
	switch r.Err {
	case CodeOK:
		return nil
	case CodeNoTopic:
		return ErrNoTopic
	case CodeTruncated:
		return ErrTruncated
	}
	return ErrBadCmd
}
