// Package leases is the lease table of the voter core: the replicated
// state from which locks (package lockmgr) and leaders (package
// election) are granted. It is a pure state machine with injected time;
// internal/voters replicates it on a Raft log among the voters.
//
// # The table
//
// A key ("l/<id>" for a lock, "e/<group>" for an election group) has at
// most one grant: a Holder, a token, a TTL and the number of renewals
// applied. Commands (Cmd) are applied in log order, in batches:
//
//   - OpFound starts the table: tokens are issued from Token+1 on.
//     Until then every claim is refused (Quiet).
//   - OpClaim grants a free key with a new token, one above the last
//     issued; refuses a key held by another holder (returning it, its
//     token and how long this member still holds it); and returns the
//     same token again to the holder itself (a retried claim).
//   - OpRenew extends the grant named by holder and token; OpRelease
//     frees it; OpExpire frees the grant named by token and renewal
//     count, so an expiry overtaken by a renewal does nothing.
//
// Every command may be applied twice with the effect of once, so a
// client that does not know whether its command was applied sends it
// again.
//
// # Time
//
// Apply's effect on the replicated fields never depends on the time it
// is given. Each member records, beside each grant, when it applied the
// grant's claim or last renewal, on its own monotonic clock; it holds the
// grant for Hold(TTL) = 1.25 TTL from then, and Expired lists the grants
// past that. The holder counts its lease TTL from before it sent the
// claim or renewal, which precedes every member's apply of it. So while
// clock rates differ by less than about 10 %, a grant expires (on the
// member that proposes the expiry, whichever it is) only after its holder
// stopped counting on it. A snapshot installed by a member counts every
// grant in it as applied at the install, which is later still.
//
// # Safety (given a log that every member applies in the same order)
//
//   - L1, E1: tokens are unique: each grant takes a new value of one
//     counter, and the counter never goes back (it travels in snapshots).
//   - L2, E2: tokens increase in real-time order of grant: a grant that
//     returned was applied at log position p; a claim sent afterwards is
//     applied at a later position, when the counter is higher.
//   - L3, E3: no two live grants of a key overlap: a key is granted only
//     when free; it becomes free by its holder's release, or by an expiry
//     proposed after Hold(TTL) without a renewal, on the proposer's clock
//     (see Time).
//
// The table keeps a record only for a key that is held: released and
// expired keys take no memory, and no per-key floor is needed because
// tokens come from one counter.
package leases
