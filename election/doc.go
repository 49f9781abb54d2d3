// Package election elects one leader per group among the nodes of a
// gossipsync cluster, with terms that fence leader-only work and leases
// that never overlap.
//
//	e, err := election.New(node, election.Group("billing-cron"))
//	if err != nil { ... }
//	defer e.Close()
//	el, err := e.Elect(ctx, "worker-7") // blocks until this candidate leads
//	if err != nil { ... }
//	for {
//		select {
//		case <-el.Revoked():
//			return // stop leader work at once
//		case job := <-jobs:
//			if !el.Valid() { // right before the side effect
//				return
//			}
//			store.Write(job, el.Term()) // the term fences the write
//		}
//	}
//
// # How it works
//
// Every node with an Elector runs a voter that serves all groups. A
// candidate first surveys the members: it goes on only if a majority of
// the quorum basis (cluster.Node.QuorumSize) answers and no voter holds a
// live lease. It defers to a live candidate higher in bully order
// (Priority, then node name, then candidate id) for up to three lease
// periods. Then it claims a term above every term the survey saw; a voter
// grants a term at most once, only above its earlier promises, and only
// while it holds no live grant for another candidate. A claim granted by a
// majority wins. Its lease runs TTL from the moment the claim was sent.
// The leader renews it with a heartbeat to every member each quarter
// TTL; a majority of renewals extends the lease to TTL from the moment
// the heartbeat was sent. Elected.Valid compares the monotonic clock with
// that end. A candidate higher in bully order
// than the leader sends a claim anyway: the voters refuse it but tell the
// leader at its next heartbeat, and once a majority of them have, the
// leader steps down, so the highest live candidate ends up leading. A
// higher candidate that only a minority hears (across a partition, or
// through a node that bridges two sides) could not win, and the leader
// keeps its lease. Such a request applies to the lease it was made
// against: a voter forgets it when it grants a new lease, and a candidate
// still waiting asks again. A NoPreempt candidate's refused claim asks
// nothing.
//
// A leader that lost its lease and campaigns again (Reelect, or Elect
// with the same candidate) waits until the voters have freed its old
// grant, a quarter TTL after Revoked closed, before it surveys and claims:
// its voters would otherwise grant it again at once, and whatever ended
// the lease would end the new one at its first heartbeat, term after term
// with no pause in between.
//
// # Guarantees
//
//   - E1: at most one candidate holds each term. Two majorities share a
//     voter, and a voter grants each term once.
//   - E2: terms strictly increase from one leader to the next: a new
//     leader's majority includes a voter that promised the old term.
//   - E3: no two leases overlap in real time, as long as clocks run at
//     rates within about 10 % of each other. A voter holds a grant for
//     TTL + TTL/4 from when it received the claim or heartbeat; the leader
//     counts TTL from before it sent it, and its lease is over from then
//     on: Valid reports false even if no timer has run since a freeze, a
//     heartbeat round recorded late does not revive it, Elect never
//     returns a lease already past its end, and while the process runs
//     Revoked closes by then at the latest. So every voter of the last
//     majority refuses a new claim until after the old leader stopped,
//     provided it checks Valid before it acts (see Freezes for the instant
//     between the check and the act). A leader that loses its lease
//     without asking (preempted by a higher candidate, or a voter promised
//     a higher term) closes Revoked and frees the voters' grants no sooner
//     than a quarter TTL later, so that its goroutines have that long to
//     notice before the next leader starts; after Resign, or when the
//     Elector closes during that quarter TTL, it frees them at once (the
//     owner of the Elector has stopped: a goroutine that still acts must
//     have checked Valid, which is already false).
//   - E4: after the leader crashes, a new leader is elected within the
//     voters' hold (1.25 TTL) plus one survey and one claim round. After
//     Resign, within about one round trip plus an election round; after
//     a preemption, a quarter TTL more.
//   - On the minority side of a partition nobody is elected: a leader
//     there loses its lease within TTL, and candidates keep waiting.
//
// Leader and Follow report what this node's voter knows: a leader that
// won a majority and renewed its lease here. They learn of a new leader
// within one heartbeat, and drop one within 1.25 TTL of its last.
//
// # Freezes: check Valid, fence with the term
//
// A process can be paused at any instant: a long GC, SIGSTOP, a VM
// migration. When it resumes, its own goroutines can run before the
// timer that closes Revoked, so a leader can still see Revoked open well
// after another node was elected. Revoked is a notification, and after
// a freeze it can arrive late. Two things protect leader-only work:
//
//   - Call el.Valid() right before each side effect. It compares the
//     monotonic clock with the lease's end, needs no timer to have run,
//     and closes Revoked when it finds the lease over.
//   - Fence the side effect with el.Term(): a freeze can also strike
//     between the check and the effect. The resource remembers the
//     highest term it has seen and refuses requests with a lower one.
//
// In SQL, for instance:
//
//	UPDATE jobs SET owner_term = $term, ... WHERE id = $id AND owner_term <= $term
//
// And in Go:
//
//	for job := range jobs {
//		if !el.Valid() {
//			break // over, even if Revoked has not closed yet
//		}
//		if err := store.Write(ctx, job, el.Term()); errors.Is(err, store.ErrStaleTerm) {
//			break // a later leader wrote first
//		}
//	}
//
// Then a deposed leader that wakes up late cannot overwrite the work of
// its successor.
//
// # Deadlines and clean-up
//
// Every blocking call (Elect, Reelect, Resign, Leader) returns by its
// ctx's deadline, and Follow's channel closes by then. What is left to
// do (freeing the grants of a claim that lost or was cut short, or of a
// lease won too late, telling the voters of a resignation) goes on in the
// background, each step bounded by half a lease, until the Elector's
// Close, which waits for it.
//
// # Hazards
//
//   - A node that has not joined anyone has a quorum basis of one and
//     elects itself. Two nodes started apart, each unable to reach its
//     seeds, both lead until they meet. Set cluster.Config.ExpectedSize on
//     every node where that matters: then a majority of the expected
//     cluster is needed from the start.
//   - When a cluster of one grows to two, the majority is both nodes and
//     the newcomer's voter backs no lease for its quiet period, so the
//     first leader loses its lease and the election runs again.
//   - Only nodes that have an Elector vote. A cluster whose quorum basis
//     counts nodes without one needs a majority among those that do.
//   - Voter state lives in memory. A restarted node backs no lease for
//     one hold period, which covers the grants it forgot (it still
//     reports the leader it hears at once); but if a majority of voters
//     restart at once they also forget the highest term, and a later
//     leader may reuse a term number (never overlapping in time).
//   - Every Elector of a group should use the same LeaseTTL.
//   - Leases assume clock rates within about 10 %; clock offsets do not
//     matter, only durations are compared.
//   - Valid measures with Go's monotonic clock. On Linux it does not
//     advance while the whole machine or VM is suspended (as opposed to
//     a stopped process or a GC pause), so after such a suspend a lease
//     looks longer than it was until the renew loop fails; only the term
//     fence covers that.
package election
