package raftgroup

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by Validate and Start for a Config
	// they refuse; the message names the field.
	ErrInvalidConfig = errors.New("raftgroup: invalid config")

	// ErrDirInUse is returned by Start when another member, in this
	// process or another, holds Config.Dir.
	ErrDirInUse = errors.New("raftgroup: Dir in use by another member")

	// ErrClosed is returned by every call on a Group whose loop has
	// stopped: Close was called, or the state machine failed (see Err).
	ErrClosed = errors.New("raftgroup: closed")

	// ErrDropped means the proposal was not applied and never will be:
	// no leader took it, the leader refused it, or it was lost in a
	// leader change and a later entry of this member overtook it.
	// Proposing again is safe.
	ErrDropped = errors.New("raftgroup: proposal dropped")

	// ErrNoLeader is an ErrDropped: this member knows of no leader (an
	// election is under way, it is cut off, or it has not joined yet).
	ErrNoLeader = fmt.Errorf("%w: no leader known", ErrDropped)

	// ErrUnknownOutcome means the member installed a snapshot that
	// covers the proposal's place in the log: the proposal was either
	// applied or dropped, and this member cannot tell which.
	ErrUnknownOutcome = errors.New("raftgroup: proposal outcome unknown")

	// ErrNotLeader is returned by calls that only the leader serves
	// (ProposeConfChange, TransferLeadership); the error is a
	// *NotLeaderError that names the leader this member knows of.
	ErrNotLeader = errors.New("raftgroup: not the leader")

	// ErrTransferFailed means the leader did not move to the chosen
	// member within an election timeout (Raft aborts the transfer then).
	ErrTransferFailed = errors.New("raftgroup: leadership transfer failed")

	// ErrBadMessage is returned by Step for a message this member must
	// not take: addressed to another member, local to raft, or a
	// proposal that carries anything but normal entries (configuration
	// changes are proposed on the leader only, and raft panics on a
	// malformed one).
	ErrBadMessage = errors.New("raftgroup: bad message")

	// ErrBadConfChange is returned by ProposeConfChange for a change that
	// the current configuration cannot take (it would remove every voter,
	// change a joint configuration without leaving it, name member 0,
	// ...). Raft panics on every member when it applies such a change,
	// so it is refused before it is proposed.
	ErrBadConfChange = errors.New("raftgroup: bad configuration change")
)

// NotLeaderError is returned for calls only the leader serves. It matches
// ErrNotLeader with errors.Is.
type NotLeaderError struct {
	// Leader is the leader this member knows of, 0 if none.
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%v (leader is %d)", ErrNotLeader, e.Leader)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
