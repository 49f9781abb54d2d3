// Package taskpool runs named commands across a gossipsync cluster: any
// node submits a task, and a node that registered the command runs it,
// within its pool size, with timeouts, retries and at-least-once delivery.
//
//	p, err := taskpool.New(node, taskpool.Concurrency(8))
//	if err != nil { ... }
//	defer p.Close()
//	p.Register("resize", func(ctx context.Context, img []byte) ([]byte, error) { ... })
//	thumb, err := p.Run(ctx, taskpool.Command{Name: "resize", Payload: img, Retries: 2})
//
//	// The local form: Func runs on this node's pool; Name is a label.
//	_, err = p.Run(ctx, taskpool.Command{Name: "flush", Func: flush})
//
// A node runs one Pool: New on a node whose Pool is open fails with
// ErrPoolExists (share the Pool; close it before making another).
//
// # Workers
//
// Register advertises the node's command names in its member tag "_tp"
// (sorted, comma-joined; names are 1 to 64 bytes without ','), so every
// node learns by gossip who runs what. A worker runs at most Concurrency
// tasks at once (default runtime.NumCPU()); up to 4×size more wait for a
// slot, and past that it refuses at once with ErrBusy. Every answer
// carries the worker's load (running + queued) and pool size. A handler's
// ctx ends at the attempt's timeout, when the submitter's Run is canceled
// (the cancellation crosses the wire), or when the worker's Pool closes
// after its grace period. A panic in a handler is recovered and fails the
// attempt; the node goes on serving.
//
// # Placement
//
// Run picks among the alive members whose tag lists the command: of two
// random ones, the less loaded relative to its pool size, counting this
// node's attempts in flight to each plus the load the worker last
// reported (for one second). Free capacity wins over an even spread: a
// submitter that is also a worker runs its own short tasks without a
// network round trip, looks less loaded, and so takes more of them (two
// thirds of no-op tasks in the 3-node benchmark). With Command.ID set it picks instead the
// first worker for the ID on a consistent-hash ring of those workers, so
// that duplicates meet on one worker, which runs them once: concurrent
// requests with one ID (for the same command) share a single execution
// and its result.
//
// # Attempts and retries
//
// Each attempt has a timeout (Command.Timeout, default WithTimeout, 30 s).
// What happens after a failed attempt:
//   - the worker was full (ErrBusy) or closing: Run tries another worker
//     at once, and when all were tried waits with backoff and starts over.
//     This does not count against Retries; ctx bounds it.
//   - the worker was lost (connection lost, no longer a member): the task
//     is sent again, to another worker if there is one. This does not
//     count against Retries either (at-least-once delivery, T1), up to 16
//     re-sends more than Retries.
//   - the handler failed (error, panic, *TaskError), the attempt timed out
//     (ErrTimeout) or the worker did not have the command
//     (ErrUnknownCommand): Run retries up to Command.Retries more times.
//
// Waits between attempts back off from 10 ms, doubling to at most 1 s,
// jittered. The final error wraps the last attempt's. No worker at all
// for the name fails the first attempt at once with ErrNoWorker.
//
// # Guarantees
//
//   - T1: a task is not lost while its submitter lives: a worker that
//     crashes or is cut off mid-task shows as a lost connection or, once
//     failure detection declares it failed, as an unknown node, and the
//     task runs again on another worker. Delivery is at-least-once: a
//     task whose worker was lost may have run there too.
//   - T2: with Command.ID set, one worker never runs two executions of an
//     ID at a time. Duplicates that arrive while it runs wait for, and
//     get, its result; one that arrives after it ended runs again.
//   - T3: Run returns by its ctx's deadline, without waiting for any
//     clean-up (see Deadlines): every attempt and every backoff is
//     bounded by ctx, and an attempt in flight is canceled on the worker
//     when ctx ends.
//
// # Deadlines
//
// Every call that blocks (Run, Wait) returns by its ctx's deadline, or
// as soon as ctx is canceled, with ctx's error (Run's error wraps both
// it and the last attempt's); it never waits for clean-up. A Run whose ctx
// is already done sends nothing. What an abandoned attempt leaves
// behind goes on in the background, on goroutines that Close waits for:
// the cancellation the cluster writes to a remote worker (at most a
// second; up to the cluster's 5 s handshake timeout if ctx was canceled,
// without a deadline, while the connection was being set up), and a
// handler or Func running on this node until it returns (a handler's
// ctx is canceled at once; a Func cannot be). Submit and Stats never wait for the network; Register
// waits for its tag to go out, at most serf's broadcast timeout (2 s on
// the Local profile, 5 s otherwise).
//
// # Submit and Wait
//
// Submit runs a task in the background under the Pool's own context
// (Close cancels it; the ctx passed to Submit bounds only the submission)
// and returns its id. Wait returns the result once and forgets the id. A
// result nobody waits for is kept 10 minutes after the task ended.
//
// # Schedules
//
// Schedule(name, every, cmd) campaigns in the election group
// "taskpool.schedule."+name. Tick k is [k×every, (k+1)×every) of Unix
// time as the leader's clock reads it (cluster.Config.Clock: a leader
// whose clock is off by d runs its ticks d early or late, and a leader
// change to a clock ahead skips the ticks between, one to a clock behind
// runs the next tick late; neither repeats a tick told done). The leader runs cmd once per tick, at its start, then tells every
// member "tick k done" (best effort, bounded wait). A new leader first
// asks the members for the highest tick done and waits for a majority of
// the quorum basis to answer, then starts at max(that+1, current tick):
// so a failover shorter than every neither skips nor repeats a tick, and a
// longer one skips the ticks that passed without a leader (it does not
// catch up). A run slower than every skips the ticks it overran.
//
// A scheduled registered command's handler reads its Tick (TickOf): the
// schedule, the tick and the term of the leader that ran it. Since a
// leader change may run a tick twice, and a leader frozen past its lease
// may still be running one, fence the tick's effects with (Term, N): a
// resource that refuses a pair below the highest it has seen admits one
// leader's effects at a time. A Func command has no ctx and no tick.
//
// # Typed handlers
//
// Typed adapts func(ctx, In) (Out, error) to a Handler, with payloads
// and results as msgpack (Payload builds a payload, Result reads a
// result); a payload that does not decode fails the attempt with an
// error naming the type, without calling the function.
//
// # Hazards
//
//   - At-least-once: a task whose worker crashed or was partitioned away
//     mid-task may have run, or may still be running, there. Make handlers
//     idempotent or fence their effects.
//   - An ID's execution is shared only on one worker. During a membership
//     change (a worker joins, fails or registers the name) two submitters
//     can map the ID to different workers, and each runs it. A worker
//     retried after a loss runs it again. Shared waiters also share the
//     first caller's cancellation: if its Run is canceled, they get a
//     timeout and retry.
//   - Schedules: if a leader ran tick k but died (or lost its lease)
//     before any member heard "k done", the next leader runs k again
//     (at-least-once per tick). A leader cut off mid-run stops at once
//     but its Run's worker may complete. Leader election counts every
//     member in the quorum basis while only nodes with an Elector vote:
//     call Schedule (or run another Elector) on a majority of the nodes.
//   - Func tasks cannot be canceled: when their attempt times out or ctx
//     ends, Run returns but the Func keeps its slot until it returns.
//     So does a handler that ignores its ctx, and Close waits for both.
//   - Load views are this node's: submitters on different nodes can pick
//     one worker at once; the worker's queue and ErrBusy absorb that.
//
// Close stops taking work (ErrClosed), cancels Submit's tasks and
// schedules, waits for running handlers up to the attempt timeout (their
// submitters retry elsewhere if canceled), withdraws the tag and RPC
// methods and waits for its goroutines. It returns within: the grace
// (WithTimeout) plus the time handlers and Funcs take to return once
// canceled, plus the broadcast timeout (see Deadlines) for the tag
// withdrawal, plus, with schedules, 1 s to resign and the election's own
// Close.
//
// Pool is safe for concurrent use.
package taskpool
