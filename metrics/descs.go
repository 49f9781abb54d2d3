package metrics

import "github.com/prometheus/client_golang/prometheus"

// namespace prefixes every metric of the Collector.
const namespace = "gossipsync"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// nodeDescs are the node's metrics: membership, gossip health, RPC and
// the voter group as this node sees it.
type nodeDescs struct {
	members, health, quorum         *prometheus.Desc
	rpcCalls, rpcErrors, rpcSeconds *prometheus.Desc
	epoch, term, voters, learners   *prometheus.Desc
	role, hasLeader                 *prometheus.Desc
}

func newNodeDescs() nodeDescs {
	return nodeDescs{
		members:    desc("cluster_members", "Members this node knows of, by serf state (alive, leaving, left, failed).", "state"),
		health:     desc("cluster_health_score", "memberlist's health score of this node: 0 is healthy, higher means missed probes or refuted suspicions."),
		quorum:     desc("cluster_quorum_size", "Members that make a majority of this node's quorum basis."),
		rpcCalls:   desc("rpc_calls_total", "RPC calls this node made, by method.", "method"),
		rpcErrors:  desc("rpc_errors_total", "RPC calls this node made that returned an error, by method.", "method"),
		rpcSeconds: desc("rpc_duration_seconds", "Duration of the RPC calls this node made, errors included, by method.", "method"),
		epoch:      desc("voters_epoch", "Number (log index) of the voter configuration this member applied; 0 on a node outside the configuration."),
		term:       desc("voters_term", "Raft term of this voter-group member; 0 on a node outside the configuration."),
		voters:     desc("voters_voters", "Voters in the voter configuration as this node sees it."),
		learners:   desc("voters_learners", "Learners in the voter configuration (as a member sees it; 0 elsewhere)."),
		role:       desc("voters_role", "This node's role in the voter group: 1 for the current role (leader, voter, learner or none), 0 for the others.", "role"),
		hasLeader:  desc("voters_has_leader", "Whether this node knows a leader of the voter group (1) or not (0)."),
	}
}

// lockDescs are a node's lock Managers' metrics.
type lockDescs struct {
	acquireSeconds, waiters, held, grants, leaseLosses, errors *prometheus.Desc
}

func newLockDescs() lockDescs {
	return lockDescs{
		acquireSeconds: desc("lock_acquire_seconds", "Duration of the Acquire and TryAcquire calls that returned a lock, the wait in the queue included."),
		waiters:        desc("lock_waiters", "Acquire and TryAcquire calls in progress on this node."),
		held:           desc("lock_held", "Locks held on this node."),
		grants:         desc("lock_grants_total", "Locks granted to this node."),
		leaseLosses:    desc("lock_lease_losses_total", "Locks whose lease ended without a Release: not renewed in time, refused by the voters, or found over by Valid."),
		errors:         desc("lock_acquire_errors_total", "Failed Acquire and TryAcquire calls, by reason (no_quorum, locked, timeout, canceled, other).", "reason"),
	}
}

// electionDescs are a node's Electors' metrics, by group.
type electionDescs struct {
	leader, term, wins, changes, leaseLosses *prometheus.Desc
}

func newElectionDescs() electionDescs {
	return electionDescs{
		leader:      desc("election_leader", "Whether a candidate on this node leads the group (1) or not (0).", "group"),
		term:        desc("election_term", "Highest term this node has seen in the group.", "group"),
		wins:        desc("election_wins_total", "Terms won by candidates on this node.", "group"),
		changes:     desc("election_leader_changes_total", "Changes of leader this node saw in the group (each new leader or term announced).", "group"),
		leaseLosses: desc("election_lease_losses_total", "Leases of candidates on this node that ended without a Resign or Close (revoked while leading).", "group"),
	}
}

// clockDescs are the node's Clock's metrics.
type clockDescs struct {
	offset, uncertainty, rtt, isRef, synced, refTerm *prometheus.Desc
	syncs, rejected, failed                          *prometheus.Desc
}

func newClockDescs() clockDescs {
	return clockDescs{
		offset:      desc("clock_offset_seconds", "Cluster time minus this node's physical time."),
		uncertainty: desc("clock_uncertainty_seconds", "Half the width of the interval that holds cluster time (0 on the reference)."),
		rtt:         desc("clock_rtt_seconds", "Round-trip time of the best sample of the reference kept."),
		isRef:       desc("clock_is_reference", "Whether this node is the time reference (1) or not (0)."),
		synced:      desc("clock_synced", "Whether this node can bound cluster time within MaxUncertainty now (1) or not (0)."),
		refTerm:     desc("clock_reference_term", "Election term of the reference the current bound rests on."),
		syncs:       desc("clock_syncs_total", "Samples of the reference accepted."),
		rejected:    desc("clock_sync_rejected_total", "Samples of the reference rejected as inconsistent."),
		failed:      desc("clock_sync_failures_total", "Exchanges with the reference that got no answer in time."),
	}
}

// taskDescs are the node's Pool's metrics.
type taskDescs struct {
	submitted, runFailures, inFlight, runSeconds *prometheus.Desc
	done, failed, retries, running, queued       *prometheus.Desc
	execSeconds                                  *prometheus.Desc
}

func newTaskDescs() taskDescs {
	return taskDescs{
		submitted:   desc("task_submitted_total", "Runs started on this node (Submit's included)."),
		runFailures: desc("task_run_failures_total", "Runs started on this node that returned an error."),
		inFlight:    desc("task_runs_in_flight", "Runs of this node in progress."),
		runSeconds:  desc("task_run_seconds", "Duration of the Runs of this node, retries included, whatever the outcome."),
		done:        desc("task_done_total", "Executions on this node that succeeded."),
		failed:      desc("task_failed_total", "Executions on this node that failed (error, panic, timeout)."),
		retries:     desc("task_retries_total", "Further attempts made by the Runs of this node."),
		running:     desc("task_running", "Tasks running on this node."),
		queued:      desc("task_queued", "Tasks waiting for a slot on this node."),
		execSeconds: desc("task_execution_seconds", "Duration of the executions on this node (handlers and local Funcs)."),
	}
}
