// Package metrics exports a gossipsync node and the primitives on it as
// Prometheus metrics.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewCollector(node,
//		metrics.WithLocks(mgr),
//		metrics.WithElector(elector), // one per group
//		metrics.WithClock(clk),
//		metrics.WithTasks(pool),
//	))
//	if err := metrics.BridgeGossip(reg); err != nil { ... } // optional, process-wide
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # What it costs
//
// Nothing registers itself: the Collector goes on the registry you pass,
// never on prometheus.DefaultRegisterer. The core packages (cluster,
// voters, election, clock, lockmgr, taskpool) do not import Prometheus
// (internal/layering checks it); each keeps a few atomic counters and
// fixed-bucket histograms (internal/stats) and offers them as a plain
// snapshot, Stats. Their hot paths pay atomic additions only, with no
// lock and no allocation, whether anyone scrapes or not. The Collector
// reads the snapshots at each scrape and keeps nothing in between; it
// starts no goroutine and needs no Close.
//
// # Metrics of the node (always)
//
//	gossipsync_cluster_members{state}          gauge      members this node knows of, by serf state: alive, leaving, left, failed
//	gossipsync_cluster_health_score            gauge      memberlist's health score of this node (0 healthy; higher: missed probes, refuted suspicions)
//	gossipsync_cluster_quorum_size             gauge      members that make a majority of the quorum basis
//	gossipsync_rpc_calls_total{method}         counter    RPC calls this node made (Call, CallAll), by method
//	gossipsync_rpc_errors_total{method}        counter    those that returned an error (remote error, lost connection, deadline)
//	gossipsync_rpc_duration_seconds{method}    histogram  their duration, errors included
//
// Suspicion is memberlist's and is not in serf's member states: a
// suspected member counts as alive until declared failed (with
// BridgeGossip, memberlist_msg_suspect counts suspicions). Methods are
// the library's own (lockmgr.acquire, voters.do, clock.sample, ...) and
// any the program calls; past 64 methods the rest count as "other".
//
// # The voter group, when the node runs the voter service
//
// A lock Manager or an Elector starts the node's voter service; the
// Collector only looks for it (voters.Lookup) and never starts one, so
// these are absent on a node that runs neither.
//
//	gossipsync_voters_epoch                    gauge      number (log index) of the configuration this member applied; 0 outside it
//	gossipsync_voters_term                     gauge      this member's Raft term; 0 outside the configuration
//	gossipsync_voters_voters                   gauge      voters in the configuration as this node sees it
//	gossipsync_voters_learners                 gauge      learners in it (as a member sees it; 0 elsewhere)
//	gossipsync_voters_role{role}               gauge      1 for this node's role (leader, voter, learner, none), 0 for the others
//	gossipsync_voters_has_leader               gauge      1 if this node knows the group's leader
//
// # Locks (WithLocks; several Managers are added up)
//
//	gossipsync_lock_acquire_seconds            histogram  duration of the Acquire and TryAcquire calls that returned a lock, queueing included
//	gossipsync_lock_waiters                    gauge      Acquire and TryAcquire calls in progress
//	gossipsync_lock_held                       gauge      locks held
//	gossipsync_lock_grants_total               counter    locks granted
//	gossipsync_lock_lease_losses_total         counter    locks whose lease ended without a Release (not renewed in time, refused, found over by Valid)
//	gossipsync_lock_acquire_errors_total{reason} counter  failed calls: no_quorum (ErrNoQuorum), locked (ErrLocked), timeout (Wait or ctx deadline), canceled, other
//
// # Elections (WithElector, one per group; the group is the label)
//
//	gossipsync_election_leader{group}                 gauge    1 while a candidate on this node leads the group
//	gossipsync_election_term{group}                   gauge    highest term this node has seen in the group
//	gossipsync_election_wins_total{group}             counter  terms won on this node
//	gossipsync_election_leader_changes_total{group}   counter  changes of leader this node saw (each new leader or term announced): failovers and handovers
//	gossipsync_election_lease_losses_total{group}     counter  leases on this node revoked while leading (not renewed in time, preempted), Resign and Close excluded
//
// # Clock (WithClock)
//
//	gossipsync_clock_offset_seconds            gauge      cluster time minus this node's physical time
//	gossipsync_clock_uncertainty_seconds       gauge      half the width of Interval (0 on the reference)
//	gossipsync_clock_rtt_seconds               gauge      round trip of the best sample kept
//	gossipsync_clock_is_reference              gauge      1 if this node is the time reference
//	gossipsync_clock_synced                    gauge      1 if Now and Interval succeed now
//	gossipsync_clock_reference_term            gauge      election term of the reference the bound rests on
//	gossipsync_clock_syncs_total               counter    samples of the reference accepted
//	gossipsync_clock_sync_rejected_total       counter    samples rejected as inconsistent
//	gossipsync_clock_sync_failures_total       counter    exchanges with the reference that got no answer in time
//
// # Tasks (WithTasks)
//
//	gossipsync_task_submitted_total            counter    Runs started on this node (Submit's included)
//	gossipsync_task_run_failures_total         counter    those that returned an error
//	gossipsync_task_runs_in_flight             gauge      Runs of this node in progress
//	gossipsync_task_run_seconds                histogram  duration of this node's Runs, retries included, whatever the outcome
//	gossipsync_task_done_total                 counter    executions on this node that succeeded
//	gossipsync_task_failed_total               counter    executions on this node that failed (error, panic, timeout)
//	gossipsync_task_retries_total              counter    further attempts made by this node's Runs
//	gossipsync_task_running                    gauge      tasks running on this node
//	gossipsync_task_queued                     gauge      tasks waiting for a slot on this node
//	gossipsync_task_execution_seconds          histogram  duration of the executions on this node
//
// Histograms share one set of buckets, from 0.5 ms to 10 s
// (internal/stats). Counters count from the primitive's New: a
// primitive made again starts from 0, which Prometheus' rate() reads as
// a counter reset.
//
// # Several nodes in one process
//
// Each Collector reports one node without a node label (Prometheus adds
// the instance). To put several nodes of one process on one registry,
// give each its label: prometheus.WrapRegistererWith(prometheus.Labels{
// "node": n.Name()}, reg).MustRegister(metrics.NewCollector(n)).
//
// # memberlist's and serf's own figures: BridgeGossip
//
// memberlist and serf report through hashicorp/go-metrics, to its
// process-wide global sink only. BridgeGossip, opt-in, installs
// go-metrics' Prometheus sink, registered on the registry you pass, as
// that global sink. Their metrics then appear under go-metrics' names:
// memberlist_gossip, memberlist_probeNode, memberlist_pushPullNode
// (summaries, in milliseconds), memberlist_msg_alive,
// memberlist_msg_suspect, memberlist_msg_dead, memberlist_degraded_probe,
// memberlist_tcp_sent, memberlist_udp_sent, memberlist_health_score,
// serf_member_join, serf_member_failed, serf_member_left, serf_msgs_sent,
// serf_queue_Event and more. Because the sink is process-wide, they add
// up every node of the process, and a later BridgeGossip (or any other
// go-metrics global sink the program installs) takes them elsewhere.
package metrics
