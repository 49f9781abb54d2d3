// Package lockmgr gives a gossipsync cluster leased locks with fencing
// tokens.
//
//	m, err := lockmgr.New(node)
//	if err != nil { ... }
//	defer m.Close()
//	l, err := m.Acquire(ctx, "invoice-42", lockmgr.TTL(10*time.Second))
//	if err != nil { ... }
//	defer l.Release(context.Background())
//	if !l.Valid() {
//		return // the lease is gone: stop at once
//	}
//	store.Write(data, l.Token()) // the resource refuses older tokens
//
// # How it works
//
// Grants live on the cluster's voters (internal/voters): a small agreed
// set of members (cluster.Config.Voters, default 5) that replicate one
// lease table on a Raft log (internal/leases). A lock id is a key of that
// table. Every other member is a client of the voters, so the messages
// and the CPU of a lock operation are the same at 3 members and at 300.
//
// Every acquisition has a coordinator, a member that queues its waiters.
// In quorum mode it is the voters' Raft leader as the caller knows it,
// which proposes every claim anyway: a claim is then proposed on the
// node it reaches, two messages fewer than through another member.
// Where the leader is unknown (no group yet, a change of leader), runs
// no Manager, cannot be reached, or holds 128 waiters of the caller's
// node already (each holds a slot of their connection, which serves 256
// calls at once), and in Quorum(false) mode, it is the id's owner on a
// consistent-hash ring (64 virtual nodes per member) of the alive voting
// members, then the next ring successor. Acquire sends a blocking
// request to the coordinator, and to the next one if it is unreachable,
// busy or has no Manager; the caller's deadline travels with it. The
// coordinator keeps a FIFO queue per id and serves only its
// head: it claims the id at the voters' leader (one command, applied
// once a majority of the voters hold it). A free id is granted with a
// new token, one above every token the voters issued before; a held one
// is refused, with how long the voters hold it at most, and the head
// waits that long (at most TTL/4) or until the holder's release wakes
// it. A coordinator that is not the leader or owner by its own view
// serves anyway: the choice gives fairness (one queue), not safety.
// Around a change of leader, callers that knew the old leader queue
// there and later ones at the new one; both queues claim, and first
// come, first served holds within each until the old one empties. So
// does a node's overflow past a coordinator's 128.
//
// A handover takes one round of the voters. The holder's final release
// goes to the voters and, at the same time, to the coordinator, which
// wakes the head waiter and relays the release with its claim: the
// voters apply the release first, then the claim. While the last grant
// the coordinator made is neither released nor past its hold (its win +
// TTL + TTL/4), the head does not claim (the claim could only be
// refused); it waits for the release, at most TTL/4, and then claims as
// usual. A relayed release is the holder's own word, sent after it
// stopped using the lock.
//
// Release returns once the voters' leader has the release in its log,
// not once a majority holds it: one message to the leader and back
// instead of a round of the voters. The leader proposes every later
// claim after it, so a claim that reaches that leader after Release
// returned (another node's Acquire included) finds the id free. Should
// the leader lose its lead before the release is committed, the release
// is lost, and the grant ends as a crashed holder's does: the voters
// expire it 1.25 TTL after its last renewal (L4). Nothing else rests on
// a release: the holder stopped using the lock before it was sent.
//
// The holder renews at most TTL/3 after its last round, at the voters,
// on a grid: rounds fall on multiples of TTL/3 in Unix time (the first
// may come early), so every lock of one TTL on a node renews at the same
// instants, and the renewals of a node that meet within 2 ms go as one
// request (renewals.go): holding 200 locks costs a request per node and
// period, not one per lock. The lease runs TTL from the send time of
// the last renewal the voters applied (a round's start, taken before it
// waits for the others). For the grant it
// runs from the caller's send time plus the time the coordinator kept
// the request before claiming, less a tenth of that time (it is measured
// on the coordinator's clock, whose rate may differ by up to 10 %, and
// can be long: the wait in the queue), so that the start precedes the
// claim and so every voter's apply of it. A grant that reaches Acquire
// with less than half its lease left (a slow reply, a freeze) gets one
// renewal before Acquire returns; if the voters refuse it (the grant
// expired meanwhile), Acquire frees the grant and queues again. Done
// closes at the lease's end, or at once when a renewal is refused. A
// lease that lapsed stays over: a renewal applied after the lease's end
// does not revive it.
//
// The voters free a grant when its holder releases it, or when the voter
// that proposes the expiry (the Raft leader) has seen it unrenewed for
// TTL + TTL/4 on its own clock since it applied the claim or the last
// renewal. Released and expired ids take no memory anywhere.
//
// # Guarantees (quorum mode)
//
// The voters apply every claim, renewal, release and expiry in one order
// (the Raft log); their configuration changes only through that log, and
// a new voter installs the state (a snapshot or the log) before it
// votes. So:
//
//   - L1: no two grants of an id carry the same token: each grant takes a
//     new value of one counter, which never goes back.
//   - L2: tokens strictly increase in real-time order of grant: a claim
//     sent after grant A returned is applied after it, when the counter
//     is higher. Clocks play no part. This holds across any sequence of
//     one-at-a-time voter replacements, rolling restarts included, and
//     for ids nobody locked meanwhile: the counter lives in the voters'
//     log, not in any one process.
//   - L3: no two holds overlap in real time, as long as clock rates are
//     within about 10 % and no holder pauses longer than its TTL while
//     holding (every lease is measured on its node's clock,
//     cluster.Config.Clock; TestSimClockRates cuts off a holder whose
//     clock runs slow from voters whose clocks run fast: at ±4 % its
//     lease ends first, at ±20 % the next grant comes first). An id is granted only when free; a grant is freed by its
//     holder, or by an expiry proposed TTL + TTL/4 after the proposing
//     voter applied the last renewal, which it received after the holder
//     sent it; the holder's lease ends TTL after that send.
//   - L4: a free id is granted within one round of the voters; an id
//     whose holder crashed, within 1.25 TTL of its last renewal plus
//     TTL/4.
//   - Where the voters have no majority (a partition that leaves the
//     caller's side without a majority of them, or a majority of them
//     lost), nothing is granted: Acquire waits, and returns ErrNoQuorum
//     when its coordinator could not reach the voters for a TTL (at least
//     2 s); TryAcquire returns ErrNoQuorum when one claim goes
//     unanswered. A holder there loses its lease within TTL.
//
// # Using the token
//
// A lease can end while its holder is paused (GC, a stopped VM) and does
// not notice in time. Pass the token with every write; the resource
// keeps the highest token per id and refuses lower ones (Fence does this
// in memory; in SQL: WHERE token <= $token). Equal tokens come from the
// same holder and are allowed.
//
// # A frozen holder
//
// A process can be frozen at any instant, for longer than the TTL: a long
// GC pause, SIGSTOP, a stopped or migrated VM, a laptop lid. When it
// resumes, its own goroutines may run before the timer that closes Done,
// so Done can still be open for a moment after the lease ended and
// another node was granted the id. Two habits make a holder safe:
//
//   - Right before each side effect the lock guards, ask l.Valid(). It
//     compares this node's monotonic clock with the lease's end (which
//     Deadline returns), so it is right even just after a freeze; when it
//     finds the lease over it closes Done and returns false. Watch Done to
//     stop promptly, but decide with Valid.
//   - Fence the side effect with l.Token(). A freeze between the check
//     and the write cannot be seen by any check; only the resource,
//     refusing tokens lower than the last it accepted, catches it.
//
// A holder that writes a batch under the lock:
//
//	for _, item := range batch {
//		if !l.Valid() {
//			return errLockLost // stop: nothing more without the lock
//		}
//		if err := db.Exec(ctx, "UPDATE t SET v = $1, token = $2 WHERE id = $3 AND token <= $2",
//			item.V, l.Token(), item.ID); err != nil {
//			return err
//		}
//	}
//
// Acquire itself never returns a lock whose lease is already over: if
// the process froze between the grant and Acquire's return, Acquire
// renews the grant once before returning it, and if another holder got
// the id meanwhile, it frees the grant and queues again (TryAcquire
// returns ErrLocked). Without a deadline (ctx or Wait) a process that
// keeps freezing longer than the TTL keeps queueing.
//
// # Deadlines
//
// Every blocking call returns by its ctx's deadline (and Acquire by its
// Wait): the clean-up after giving up (telling the coordinator to drop
// the waiter, freeing a grant that may have been made as the caller gave
// up) runs in the background, bounded by TTL/2, and Close waits for it.
// Release returns ctx.Err() when ctx ends first and finishes the release
// in the background.
//
// # Semaphores
//
// A semaphore lets up to n holders in at once, where a lock lets one (as
// consul lock -n, or etcd's semaphore recipes):
//
//	l, err := m.AcquireSemaphore(ctx, "encoders", 4, lockmgr.TTL(10*time.Second))
//	if err != nil { ... }
//	defer l.Release(context.Background())
//	if !l.Valid() {
//		return // the slot is gone: stop at once
//	}
//	store.Write(l.ID(), data, l.Token()) // one lane per slot
//
// A semaphore of n slots is n locks. Slot i of the semaphore s is the
// lock of id SlotID(s, i): "\x00sem/", i in decimal, "/", s. Acquire
// and TryAcquire refuse ids that begin with "\x00sem/", so no plain
// lock is a slot; the slot number ends at the first "/", so two
// semaphores never share a slot. The semaphore s and the plain lock s
// are unrelated. AcquireSemaphore returns the Lock of one slot, a lock
// like any other: its own token, lease, renewals, Done, Valid, Context
// and Release; Slot and Semaphore say which slot it is. So the
// guarantees are the locks', slot by slot:
//
//   - At most n holders at once: a holder of a semaphore holds one of
//     its n slots, and no two holds of one slot overlap (L3, with its
//     bounds on clock rates and pauses).
//   - Fencing per slot: the tokens of a slot are unique (L1) and
//     increase in real-time order of its grants (L2). Key the fence by
//     the slot's id (l.ID()): the resource keeps a highest token per
//     slot, and a paused holder whose slot went to another is refused
//     in that slot's lane. Tokens of different slots are unique too,
//     but a resource that keeps one highest token for the whole
//     semaphore refuses every holder but the newest.
//   - A slot freed by a release goes to a waiter queued for it within
//     one round of the voters, and one whose holder crashed as L4 says
//     for a lock; with up to 8 slots every waiter is queued for every
//     slot (see below).
//
// AcquireSemaphore tries each slot once, as TryAcquire does, from a
// random slot on, so that callers spread over the slots. When every
// slot is held (or has waiters), it queues for up to 8 slots at once at
// their coordinators, as Acquire queues for one id, takes the first
// granted and gives up the others (a slot granted to it meanwhile is
// released at once: it returns holding one slot). With up to 8 slots it
// waits on every slot and is woken by any release; with more it waits
// on 8 and tries every slot again after TTL/2 to TTL. A pass costs at
// most a claim at the voters per slot; a waiter costs a queue entry at up
// to 8 coordinators, and giving them up a message and a release each.
// Hence MaxSlots (256); a semaphore of thousands wants another design
// (one lease table entry counting its holders).
//
// Hazards of semaphores:
//
//   - Every caller must pass the same n for an id. The slots are plain
//     locks: a caller that passes n+1 may take slot n, which the others
//     do not know of. While n changes (a rolling deploy), up to the
//     larger n hold at once, and holders of slots past the new n keep
//     them until they release.
//   - Each call is a holder: a Manager that calls AcquireSemaphore twice
//     may hold two slots of one semaphore, as it may hold two locks.
//   - Order is first come, first served per slot only. A waiter queues
//     for up to 8 slots, so with up to 8 it is served about in its turn;
//     with more, not. TryAcquireSemaphore fails while every slot has
//     waiters, even at the moment one is handed over.
//   - Quorum(false) gives semaphores no guarantee, as it gives locks
//     none: both sides of a partition grant the same slots.
//
// # Hazards
//
//   - Quorum(false) is unsafe: each coordinator grants from a table of
//     its own, replicated nowhere, so two coordinators (both sides of a
//     partition, or one before and one after a restart) grant the same
//     id, possibly with the same token. L1-L3 do not hold; use it only
//     where availability matters more than exclusion (the simulation uses
//     it to show violations).
//   - Without cluster.Config.DataDir, losing a majority of the voters at
//     once (three of five crash or restart together) leaves locks
//     unavailable: the survivors cannot commit, and no member holds
//     anything durable to rebuild from. (With a DataDir on every node
//     the voters keep their Raft state on disk, and the group goes on
//     once a majority of them is back, a restart of the whole cluster
//     included, with its leases and tokens: see package voters,
//     Durability. The rest of this hazard is about memory only.)
//     Failures and restarts one at a time are replaced automatically.
//     To recover, restart every node (a rolling restart will do): a
//     process that saw the lost group never founds a new one, since it
//     cannot tell a lost group from one it is cut off from; once all
//     have restarted, a new group forms, and its tokens (from its
//     founding time) are above the lost group's. It does not wait for
//     the lost group's grants to end, so start the restart no sooner
//     than LockDelay after the loss: a holder keeps its lease for up to
//     a TTL after its last renewal.
//   - The first voter group forms once a node sees a majority of the
//     members it knows (and ExpectedSize, if set) running the voter
//     service, that is holding a Manager or an Elector. Two groups that
//     formed apart (nodes that never saw each other's majority) merge by
//     dissolving the younger, whose grants are forgotten: set
//     cluster.Config.ExpectedSize where that matters.
//   - Tokens are large numbers (the voters' table starts at the founding
//     time in microseconds), unique across all ids, increasing but not
//     consecutive. A resource keeps the highest per id, as Fence does.
//   - LockDelay bounds the TTL (TTL+TTL/4 at most LockDelay); it is
//     otherwise unused. There is no quiet period, so there is nothing
//     for a Ready method or an error to report: a voter group is founded
//     once per cluster (internal/voters, V4) and grants from its first
//     entry, with tokens above any earlier group's, and a lost group is
//     not rebuilt (restarting every node forms a new one; the operator
//     waits LockDelay first, see the first hazard). Before the first
//     group exists, as while no voters answer, an Acquire claims again
//     for max(TTL, 2 s) and then returns ErrNoQuorum (TryAcquire at
//     once), never a bare timeout.
//   - An Acquire that gives up (ctx, Wait) tells its coordinator, which
//     drops the waiter, and frees any grant it may have got, in the
//     background after it returned (dropped if the Manager closed); a
//     waiter whose node fails or leaves is dropped when the cluster
//     closes its connection (which cancels the request on the
//     coordinator). A claim already sent when the waiter is dropped
//     runs until the voters answer, and the coordinator frees what it
//     won, so the free follows the grant in the log. A grant that slips
//     through (a message lost, the voters silent past the claim's
//     timeout) blocks the id until it expires (1.25 TTL), never longer.
package lockmgr
