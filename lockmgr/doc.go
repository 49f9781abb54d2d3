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
// Safety comes from acceptors, as in package election, not from who owns
// an id. Every node with a Manager runs one acceptor, serving all ids.
// Per id an acceptor keeps the highest token it granted (its promise)
// and at most one grant: holder (node, Manager instance, handle), token,
// and an expiry of receive time + TTL + TTL/4. It grants a claim only for
// a token above its promise, only while it holds no live grant for
// another holder, and not during its quiet period: a new acceptor grants
// nothing for LockDelay, because it may be a restarted node that forgot a
// live grant. A renewal extends the holder's grant, or joins one that the
// acceptor missed when it holds no live grant, the token is not below its
// promise and it is not quiet. A release frees a matching grant. A claim
// may carry the previous holder's final release, relayed by the
// coordinator (below); the acceptor applies it first, under the same
// lock, exactly as if that holder's own release had arrived just before.
// The rules above then judge the claim unchanged.
//
// A grant needs acknowledgements from a majority of the quorum basis
// (cluster.Node.QuorumSize), asked of every alive member at once; a claim
// round ends as soon as a majority granted.
//
// The coordinator of an id is its owner on a consistent-hash ring (64
// virtual nodes per member) of the alive members. Acquire sends a
// blocking request to the owner by the caller's view, and to the next
// ring successor if the owner is unreachable or has no Manager; the
// caller's deadline travels with it. The coordinator keeps a FIFO queue
// per id and serves only its head: it claims the next token (its last
// one + 1, or above the highest promise it was refused for), frees any
// partial grants of a failed claim, and while an acceptor reports a live
// grant of another holder it waits min(remaining, TTL/4) or until the
// holder's Release wakes it. A coordinator that is not the owner by its
// own view serves anyway: ownership gives fairness (one queue), not
// safety.
//
// A handover takes one claim round. The holder's final release goes to
// every member, the coordinator among them; the coordinator's node wakes
// the head waiter on receipt and keeps the release, and the head's claim
// carries it to every acceptor (the holder sends the coordinator a
// separate wake only when its release did not reach it). While the last
// grant the coordinator made is neither released nor past its
// coordinator-side expiry (its win + TTL + TTL/4), the head does not
// claim, since the claim could only fail; it waits for the release, at
// most TTL/4, and then claims as usual. All of this is fairness and
// speed: a relayed release is the holder's own word, sent after it
// stopped using the lock, and acceptors grant by the rules above alone.
//
// The holder renews every TTL/3 with every member. The lease runs TTL
// from the send time of the last round a majority renewed. For the grant
// it runs from the caller's send time plus the time the coordinator kept
// the request before claiming, less a tenth of that time (it is measured
// on the coordinator's clock, whose rate may differ by up to 10 %, and
// can be long: the wait in the queue), so that the start precedes the
// winning claim and every acceptor's receipt of it. A grant that reaches
// Acquire with less than half its lease left (a slow reply, a freeze)
// gets one renewal round before Acquire returns; if that round falls
// short of a majority, Acquire frees the grant and queues again. Done
// closes at the lease's end, or at once if a renewal falls short of a
// majority while an acceptor has promised a newer token. A lease that
// lapsed stays over: a renewal acknowledged after the lease's end does
// not revive it.
//
// # Guarantees (quorum mode)
//
//   - L1: no two grants of an id carry the same token. Two grants'
//     majorities share an acceptor, and an acceptor grants each token
//     once (above its promise), so the second claim of a token is
//     refused there.
//   - L2: tokens strictly increase in real-time order of grant. If grant
//     A completed before the claim of B was sent, the acceptor shared by
//     their majorities had promised A's token when it granted B's, so
//     B's is greater. Clocks play no part.
//   - L3: no two holds overlap in real time, as long as clock rates are
//     within about 10 % and no holder pauses longer than its TTL while
//     holding. Every acceptor of the last renewing majority holds the
//     grant for 1.25 TTL from its receipt, and the holder's lease ends
//     TTL after it sent the renewal; a new grant needs one of those
//     acceptors.
//   - L4: a free id is granted within one claim round; an id whose holder
//     crashed, within 1.25 TTL of its last renewal plus TTL/4; a node
//     that restarts backs no grant for LockDelay.
//   - A node that sees fewer alive members than QuorumSize refuses at
//     once with ErrNoQuorum, as caller and as coordinator; a holder there
//     loses its lease within TTL.
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
// # Hazards
//
//   - Quorum(false) is unsafe: grants need only a majority of the id's
//     Replicas ring successors among the members a node sees, so both
//     sides of a partition grant the same id, possibly with the same
//     token. L1-L3 do not hold; use it only where availability matters
//     more than exclusion (the simulation uses it to show violations).
//   - Acceptor state lives in memory and is kept forever: one small
//     record per distinct id ever locked, on every node. If a majority
//     of nodes restart at once they forget the highest tokens and a
//     later grant may reuse a token number (never overlapping in time,
//     thanks to the quiet period).
//   - TTL+TTL/4 must not exceed LockDelay (checked by Acquire), so a
//     restarted acceptor's quiet period outlasts every grant it forgot.
//     Every Manager of a cluster should use the same LockDelay.
//   - Only nodes with a Manager accept grants; QuorumSize counts every
//     member, so most members need a Manager.
//   - A node that has not joined anyone has a quorum basis of one and
//     grants itself every lock; set cluster.Config.ExpectedSize where
//     that matters.
//   - An Acquire that gives up (ctx, Wait) tells its coordinator, which
//     drops the waiter, and frees any grant it may have got, in the
//     background after it returned (dropped if the Manager closed); a waiter
//     whose node fails or leaves is dropped when the cluster closes its
//     connection (which cancels the request on the coordinator). A
//     grant that slips through (a message lost) blocks the id until it
//     expires (1.25 TTL), never longer.
//   - A waiting coordinator spends one claim round per TTL/4 on a held
//     id; its failed claims never win and are released at once.
package lockmgr
