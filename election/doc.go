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
// Leases live on the cluster's voters (internal/voters): a small agreed
// set of members (cluster.Config.Voters, default 5) that replicate a
// lease table on a Raft log. A group is one key of that table. Every
// node is a client of the voters, so an election costs the same whatever
// the cluster's size.
//
// A candidate announces by gossip that it campaigns (again every half
// TTL while it does), listens briefly for the others (200 ms at most, a
// quarter TTL if that is shorter; a leader that resigns and campaigns
// again at once listens only until its Elector has listened that long in
// all: it knows every candidate that campaigns, and holds nobody up),
// and defers
// to a live candidate higher in bully order (Priority, then node name,
// then candidate id) for up to three lease periods without a leader (the
// count restarts while gossip names one: when a long-lived leader dies,
// every lower candidate still lets the next in order win first, rather
// than racing for the free key and being preempted in turn, a handover
// each). A candidate counts as live until its last announcement's
// lifetime runs out, its win or end is heard, or the cluster reports its
// node failed or gone; a deferring candidate looks again at the first of
// these. Then it claims the group's
// key through the voters' leader. A free key is granted: the term is the
// grant's token, one above every token the voters issued before. A key
// held by another candidate is refused, with how long the voters hold it
// at most; the candidate waits that long, or until the holder's end is
// announced, and claims again. Its lease runs TTL from the moment the
// winning claim was sent.
//
// The leader renews its grant every quarter TTL; each renewal the voters
// applied extends the lease to TTL from the moment it was sent, and
// Elected.Valid compares the monotonic clock with that end. The voters
// free a grant that went unrenewed for TTL + TTL/4 on the clock of the
// voter that proposes the expiry (see internal/leases), or when its
// holder releases it. A candidate higher in bully order than the leader
// sends its claim anyway: the voters refuse it but record the request,
// the leader learns it at its next renewal and steps down, so the highest
// live candidate ends up leading. A NoPreempt candidate's refused claim
// asks nothing.
//
// A leader that lost its lease and campaigns again (Reelect, or Elect
// with the same candidate) claims as a new holder: the voters refuse it
// until its old grant is freed, a quarter TTL after Revoked closed.
//
// Leaders announce their term by gossip when they win, every half TTL
// while they lead, and when they stop; Leader and Follow report what this
// node heard, without asking the voters. Once the voters freed its grant,
// a leader also tells the nodes of the candidates it heard campaigning,
// one message each, so that they claim at once rather than a gossip
// round later. These messages and the gossip only wake candidates: who
// leads is decided by the voters alone.
//
// # Guarantees
//
// The voters apply claims, renewals, releases and expiries in one order
// (Raft's log), and the configuration of voters changes only by that log
// (one change at a time, or joint consensus). So:
//
//   - E1: at most one candidate holds each term: every grant takes a new
//     value of one counter, and the counter never goes back.
//   - E2: terms strictly increase from one leader to the next: a claim
//     applied after an earlier grant draws a higher value. Across voter
//     replacements the counter travels in the log and in the snapshots a
//     new voter installs before it votes, so terms keep increasing
//     through any sequence of one-at-a-time restarts, for groups nobody
//     used meanwhile too.
//   - E3: no two leases overlap in real time, as long as clocks run at
//     rates within about 10 % of each other. A grant is freed only by
//     its holder, or by an expiry proposed after TTL + TTL/4 without a
//     renewal on the proposing voter's clock, which starts after the
//     leader sent that renewal; the leader counts TTL from before it sent
//     it, and its lease is over from then on: Valid reports false even if
//     no timer has run since a freeze, a renewal applied late does not
//     revive it, Elect never returns a lease already past its end, and
//     while the process runs Revoked closes by then at the latest. A
//     leader that loses its lease without asking (preempted, or its
//     grant expired) frees the grant no sooner than a quarter TTL after
//     Revoked closed, so that its goroutines have that long to notice;
//     after Resign, or when the Elector closes during that quarter TTL,
//     at once.
//   - E4: after the leader crashes, a new leader is elected within the
//     voters' hold (1.25 TTL) plus one claim round. After Resign, within
//     the release's voter round, one message and a claim round (a gossip
//     round for a candidate the leader had not heard campaign yet); after
//     a preemption, a quarter TTL more. A candidate that crashed holds
//     the others off until its last announcement lapses (1.25 TTL after
//     it, for the highest candidate) or the cluster reports its node
//     failed, whichever is first: no longer than the voters hold a grant
//     it may have won.
//   - Where the voters have no majority (a partition that leaves no side
//     with a majority of them, or a majority of them lost), nobody is
//     elected: a leader loses its lease within TTL, and candidates keep
//     waiting (Elect returns ctx's error wrapped with ErrNoQuorum).
//
// Leader and Follow report what this node heard by gossip: a new leader
// within a few gossip rounds of its win, the loss of one within a
// gossip round of its end, or 1.25 TTL after its last announcement, or
// when the cluster reports its node failed or gone.

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
//   - Without cluster.Config.DataDir, losing a majority of the voters
//     at once (three of five crash or restart together) leaves elections
//     unavailable: the survivors cannot commit, and no member holds
//     anything durable to rebuild from. One-at-a-time restarts and
//     failures are replaced automatically (see package voters); after
//     such a loss a new group forms once every node has restarted (see
//     lockmgr's hazards). With a DataDir on every node the group goes on
//     once a majority of the voters is back on its directory, terms
//     above all granted (package voters, Durability).
//   - The first voter group forms once a node sees a majority of the
//     members it knows (and ExpectedSize, if set) running the voter
//     service. Nodes started apart that never see each other's majority
//     form nothing; two groups that formed apart before meeting (each
//     with a majority of what it saw) merge by dissolving the younger,
//     whose grants are forgotten: set cluster.Config.ExpectedSize where
//     that matters.
//   - Every Elector of a group should use the same LeaseTTL.
//   - Leases assume clock rates within about 10 %; clock offsets do not
//     matter, only durations are compared. Every duration and timer of a
//     lease is on the node's clock (cluster.Config.Clock), the voters'
//     hold of a grant on theirs; the chaos engine's drift scenario runs
//     inside the bound and, with -drift 200000, past it, where E3 breaks.
//   - Valid measures with Go's monotonic clock. On Linux it does not
//     advance while the whole machine or VM is suspended (as opposed to
//     a stopped process or a GC pause), so after such a suspend a lease
//     looks longer than it was until the renew loop fails; only the term
//     fence covers that.
//   - Terms are tokens of the voters' table: large numbers (the table
//     starts at the founding time in microseconds), unique across groups
//     and locks, increasing but not consecutive.
package election
