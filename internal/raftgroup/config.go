package raftgroup

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Transport carries a member's messages to the other members.
//
// Send is called on the group's loop: it must not block and must not call
// back into the Group (hand the messages to a queue and return). It takes
// ownership of msgs and of the messages in it, but must not modify the
// entries they carry: those are shared with the member's log. A message
// for a member that cannot be reached is dropped; Raft retries what
// matters. A transport should not duplicate messages (Raft tolerates
// duplicates, and a duplicated proposal is refused at apply time rather
// than applied twice, but it costs the proposer an ErrDropped).
//
// On the receiving side, the transport passes each message to the
// addressed member's Group.Step.
type Transport interface {
	Send(msgs []*raftpb.Message)
}

// StateMachine is the replicated state a group agrees on.
//
// Its methods are called on the group's loop, one at a time and never
// concurrently, so they need no locking of their own against each other
// (they do against the application's readers). They must not call back
// into the Group: that deadlocks the loop.
type StateMachine interface {
	// Apply applies one committed entry, proposed with Propose, and
	// returns the result that Propose returns on the proposing member.
	// Entries arrive in log order, each exactly once per member; index is
	// the entry's Raft log index, strictly increasing but with gaps (the
	// log also holds configuration changes and the group's own no-ops).
	// Apply must be deterministic: every member applies the same entries
	// in the same order and must reach the same state.
	Apply(index uint64, data []byte) any
	// Snapshot returns the whole state as of the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with one returned by Snapshot on
	// some member. An error stops the group (see Group.Done).
	Restore(data []byte) error
}

// Defaults for the zero fields of a Config.
const (
	DefaultTickInterval    = 10 * time.Millisecond
	DefaultElectionTick    = 10
	DefaultHeartbeatTick   = 1
	DefaultSnapshotEntries = 1000
	DefaultKeepEntries     = 1000
)

// Config configures one member of a group. The zero value of each field
// but ID, Transport and StateMachine means its documented default.
type Config struct {
	// ID identifies this member in the group. It must not be 0 and must
	// never be reused without the member's Dir: a member whose storage
	// is in memory loses it when its process stops, and joins again as
	// a new member under a new ID (see the package doc).
	ID uint64

	// Dir, when set, keeps the member's Raft state on disk there (the
	// log since the last snapshot, the snapshot, term and vote), written
	// before the member sends what depends on it: a member started again
	// on the same Dir, under the same ID and without Voters, goes on as
	// the member it was. A Dir that holds state must not be given with
	// Voters, nor to two members at once (on Unix a member locks its Dir
	// while it runs, and a second Start on it fails with ErrDirInUse).
	// A Dir whose member stopped on an error (Group.Err: a failed write
	// or fsync) may not hold what the member vouched for: do not start
	// it again. See disk.go.
	Dir string

	// Voters, when set, bootstraps a new group with these voters, which
	// must include ID; every initial member is started with the same
	// list. When empty, the member starts empty and joins an existing
	// group once a member of that group adds it with ProposeConfChange
	// (as a learner first, see Status.CaughtUp).
	Voters []uint64

	// TickInterval is the length of one Raft tick (default 10 ms).
	TickInterval time.Duration
	// ElectionTick is the election timeout in ticks (default 10): a
	// follower that hears no leader for between ElectionTick and
	// 2*ElectionTick-1 ticks (randomized) campaigns. It must exceed
	// HeartbeatTick.
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks (default 1).
	HeartbeatTick int
	// NoSpares makes the leader send every append to every follower at
	// once. By default it holds its appends to the followers a majority
	// does not need (the spares) for up to a tick and merges them: see
	// spares.go.
	NoSpares bool

	// SnapshotEntries is how many applied entries pass between two
	// snapshots of the state machine (default 1000), at least: after a
	// snapshot of more than a MiB, the next one waits until the entries
	// applied since hold as many bytes. At each snapshot the log is
	// compacted down to KeepEntries entries, so memory is bounded by the
	// live state plus about SnapshotEntries+KeepEntries entries, or the
	// state's size in entries if that is more.
	SnapshotEntries uint64
	// KeepEntries is how many entries below a snapshot stay in the log, so
	// that a member that is behind by fewer catches up from the log rather
	// than from a whole snapshot (default 1000). A member that installs a
	// snapshot cannot tell the outcome of its own proposals the snapshot
	// covers (ErrUnknownOutcome), another reason to keep some.
	KeepEntries uint64

	// Transport sends this member's messages (required).
	Transport Transport
	// StateMachine is the replicated state (required).
	StateMachine StateMachine
	// Logger receives the member's logs and Raft's, at their levels
	// (default: discarded). Raft's Info lines (elections, configuration
	// changes) are logged at Info, its chatter at Debug.
	Logger *slog.Logger
}

// Validate reports the first invalid field, naming it. It does not change
// c; Start applies the defaults to its own copy.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: ID must not be 0", ErrInvalidConfig)
	case raft.IsLocalMsgTarget(c.ID):
		return fmt.Errorf("%w: ID %d is reserved by raft", ErrInvalidConfig, c.ID)
	case len(c.Voters) > 0 && !slices.Contains(c.Voters, c.ID):
		return fmt.Errorf("%w: Voters %v do not include ID %d", ErrInvalidConfig, c.Voters, c.ID)
	case slices.Contains(c.Voters, 0):
		return fmt.Errorf("%w: Voters %v include 0", ErrInvalidConfig, c.Voters)
	case hasDuplicates(c.Voters):
		return fmt.Errorf("%w: Voters %v hold a duplicate", ErrInvalidConfig, c.Voters)
	case c.TickInterval < 0:
		return fmt.Errorf("%w: TickInterval %v is negative", ErrInvalidConfig, c.TickInterval)
	case c.ElectionTick < 0 || c.HeartbeatTick < 0:
		return fmt.Errorf("%w: ElectionTick %d or HeartbeatTick %d is negative",
			ErrInvalidConfig, c.ElectionTick, c.HeartbeatTick)
	case c.Transport == nil:
		return fmt.Errorf("%w: Transport is nil", ErrInvalidConfig)
	case c.StateMachine == nil:
		return fmt.Errorf("%w: StateMachine is nil", ErrInvalidConfig)
	}
	d := c.withDefaults()
	if d.ElectionTick <= d.HeartbeatTick {
		return fmt.Errorf("%w: ElectionTick %d must exceed HeartbeatTick %d",
			ErrInvalidConfig, d.ElectionTick, d.HeartbeatTick)
	}
	return nil
}

func hasDuplicates(ids []uint64) bool {
	s := slices.Clone(ids)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(ids)
}

// withDefaults returns a copy of c with the zero fields set.
func (c Config) withDefaults() Config {
	c.Voters = slices.Clone(c.Voters)
	slices.Sort(c.Voters)
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTick == 0 {
		c.ElectionTick = DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = DefaultHeartbeatTick
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.KeepEntries == 0 {
		c.KeepEntries = DefaultKeepEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// raftConfig is the configuration of the member's RawNode.
func (c *Config) raftConfig(storage raft.Storage) *raft.Config {
	return &raft.Config{
		ID:                        c.ID,
		ElectionTick:              c.ElectionTick,
		HeartbeatTick:             c.HeartbeatTick,
		Storage:                   storage,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  4 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{c.Logger},
	}
}
