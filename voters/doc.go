// Package voters is the voter core of a gossipsync cluster: a bounded,
// agreed set of voters that holds the state locks and elections are
// granted from, so that their cost does not grow with the number of
// members and their state survives rolling restarts.
//
// Every node that runs a lock Manager or an Elector runs the node's one
// Service (Acquire). At most cluster.Config.Voters of them (default 5,
// odd; fewer in a smaller cluster) are the voters of a Raft group
// (internal/raftgroup on go.etcd.io/raft/v3, in memory, or on disk with
// cluster.Config.DataDir: see Durability) that replicates
// a lease table (internal/leases) and, in the same log, the event log of
// the event streams (internal/eventlog: an entry of event commands starts
// with the byte 0xc1, which msgpack never uses, and a snapshot holds both
// tables); the others are its clients: Do (DoEvents) sends commands to
// the group's leader, which gossip names, and a voter that is asked
// answers with the leader it knows. ReadEvents reads a topic from a
// member's table, the leader's if it answers: every member's log is a
// prefix of the leader's, so members never disagree on an offset. The
// event log lives where the lease table lives and survives what it
// survives (see Durability). Grants lists the table's live grants for
// reports (the agent's status): a member reads its own table, any other
// node asks a member, the leader first; at most MaxGrants at a time.
//
// # Durability
//
// Without a DataDir (the default) the state is in memory: it survives
// the loss of a minority of the voters at once and any sequence of
// rolling restarts (each restarted node comes back under a new Raft ID
// and is sent the log or a snapshot before it votes), not the loss of a
// majority at once, nor a restart of every node.
//
// With cluster.Config.DataDir on every node, each member also keeps its
// Raft state there (DataDir/voters: see store.go): the log since the
// last snapshot and the HardState, appended and fsynced before the
// member sends anything that vouches for them, and the snapshot. A
// process started again on the same directory goes on as the member it
// was, under the same Raft ID, from its term, vote and log: to Raft it
// is a member that was cut off for a while. So the state also survives
// the loss of any number of voters at once, a restart of the whole
// cluster included, once a majority of the last configuration is back:
// leases still held, tokens above every token issued, the event log and
// the groups' positions (TestDataDirFullRestart,
// TestFullRestartWithDataDir). Until then the members wait: they never
// found another group (below). What a directory does not survive: its
// loss (a node that comes back without it is a new member, as without a
// DataDir: the others must hold a majority), and going back in time (a
// copy restored from a backup, or a directory given to two running
// nodes at once: such a member may vote twice in a term and break V1;
// on Unix a member locks its directory, so two processes of one host
// cannot share it). The log's time (event times, delivery deadlines,
// age retention) does not count the time the whole group was down: it
// goes on from the latest time stamped.
//
// Restarts with a DataDir:
//
//   - A member restarted under its ID gossips its role tag with its ID
//     tag in the same update (once it applied what its directory held
//     as committed, which gives it its configuration). A leader that
//     removed it while it was down (unseen for the failure threshold)
//     sees a node that gossips a role in the group without being in the
//     configuration, and does not add that ID back; the member, hearing
//     from no leader, finds itself cut off after the failure threshold
//     and rejoins under a new ID, its old state removed. (A member that
//     shows no role, because it applied its own removal, or took more
//     than 10 s to replay its directory, may be added back under its
//     ID: Raft allows that for a member whose storage is whole, which
//     catches up as any member that was cut off. Only an ID whose state
//     was lost must never come back, and none does, below.) A member
//     that comes back within the failure threshold is not replaced: it
//     catches up from the leader's log or a snapshot, without a
//     learner's round trip.
//   - A member forgets its directory's state only once it left the
//     configuration: removed (its own applied configuration shows it,
//     or the leader answered that it removed it), a departure the
//     leader confirmed, a group that dissolves into an older one, a
//     group never founded. A member whose removal was not confirmed,
//     or that is the last voter, keeps it, so that the next process on
//     the directory goes on as it.
//   - An ID whose state may be incomplete is retired, never started
//     again: a member whose group stopped on an error (a failed write
//     or fsync may leave files that do not hold what it vouched for)
//     and one whose directory is damaged (raftgroup.ErrCorrupt) have it
//     set aside (raft-<id>.damaged); a member file that names a
//     directory that is missing is dropped (the directory is made, and
//     its name fsynced, before the member file names it, so only a
//     crash while setting one aside, or a hand, leaves that). The node
//     goes on under a new ID, and the autopilot removes the old one, as
//     for a node restarted without its state. Other failures to start
//     (the directory in use, a full disk) leave the directory as it is
//     for a later process, and the node goes on under a new ID.
//   - A node writes, the first time it sees a group that had a leader,
//     that it saw one (DataDir/voters/seen), and never removes it: such
//     a node never founds a group and tells every founder that it saw
//     one, across any restart. A cluster whose every node keeps its
//     DataDir is founded once; to start it afresh, stop every node and
//     remove every node's DataDir (see the hazards).
//
// Safety with a DataDir is Raft's with durable storage: a member never
// acts under an ID whose state it lost (its directory holds the ID's
// term, vote and log, written before it sent what depends on them; a
// directory that does not open is set aside and the node takes a new
// ID), and it forgets that state only once the ID left the
// configuration, when Raft no longer counts it. A member restarted with
// a stale configuration and an old log (it missed its removal, or later
// changes) campaigns like any partitioned member: a change committed on
// a majority of the configuration before it, so some member of every
// majority it could count holds a longer log and refuses it its vote
// (TestDataDirStaleVotersCannotDecide: two voters removed while down,
// restarted beside one current member, never elect a leader).
//
// # Configuration
//
// The configuration (who votes) is Raft's: it changes only by entries of
// the log, one change at a time or by joint consensus (ConfChangeV2), so
// two configurations never both decide. Its number (the epoch) is the
// log index of its entry; every command goes through the current leader
// and carries the group's ID, and a member of another group refuses it.
// Gossip carries what every node must know: each node's Raft ID (tag
// "_v", a new random ID per incarnation, unless a DataDir holds the
// member's state, and per removal) and each
// member's role in the group (tag "_vg": group ID, leader, voter or
// learner).
//
// Founding. A group is founded only when a cluster is new. When no
// alive member is in a group, the node with the lowest name among those
// running the service founds one, once it sees at least ExpectedSize of
// them and a majority of every member it has seen
// (cluster.Node.QuorumSize), that held for a settle time, its process
// never saw a group, it is not waiting for a Join
// (cluster.Node.JoinPending: until its state was exchanged with another
// node's in a join it may know few members), and every node it sees
// running the service answers its question (one RPC to each, all at
// once) that it is in no group, never saw one and answered no other
// founder within the failure threshold (an answer binds the node that
// long: it refuses other founders and founds nothing itself), and needs
// no more answers than there are by its own quorum basis. A peer that
// does not answer stops the founding as a refusal does; a refusal stops
// it for half to all of the failure threshold (drawn, so that two
// founders that refused each other try again apart). Every node answers
// the question, from its memory, whether its service runs or not. The first voters
// are the founder and the next names, as many as Voters allows. The
// others start their members when the founder's first messages reach
// them. The founding entry sets the table's first token to the founding
// time in microseconds (with the founder's ID in the low bits), above
// every token an earlier group could have issued while it committed
// under a million entries a second. Members gossip their role only once
// their group has had a leader or an election past its pre-vote (a
// vote a member cast may have made a leader it never heard from). A
// node remembers a group once it saw a leader's role tag (at once when
// a view shows it) or its own member's group had a leader or such an
// election, for as long as it runs (its services may stop and start
// again: the memory is the node's). While any role tag shows, nobody
// founds; a node that only ever saw the tags of a group without a leader
// (the survivors of a lost majority) does not remember it, so that the
// nodes restarted after such a loss can found a new group once the
// survivors are gone. A group that never had a leader committed
// nothing, and does not count.
//
// Why memory and not sight: gossip cannot tell a group that is gone
// from one this node cannot see. A partition may leave every voter on
// one side and a majority of the members on the other; a node starved
// of CPU may suspect every voter at once, or, just started, know only a
// few members. A second group founded then would grant what the first
// one holds while the first one's voters, a majority of its own
// configuration, go on granting. A node that saw the group never founds
// another; a new one (a restart, a join) founds only once its Join
// succeeded (it then knows every member the seed knew, and its quorum
// basis counts them) and every node it sees, at least a majority of
// that basis, answers that it never saw a group: after a group existed
// that means a majority of the members restarted while cut off from
// every one of its members.
//
// The founder proposes the group's founding entry once a leader exists;
// a leader whose table has not applied it proposes it again (same base,
// the group's ID; a second one changes nothing), so a founder that stops
// before the entry commits does not leave a group that refuses every
// command. When the last Manager or Elector of a node closes while the
// node stays up, its member departs: a leader first hands leadership to
// a caught-up voter (for up to 250 ms), so the group does not wait an
// election timeout; and the member asks the leader once to remove it.
// Its node keeps gossiping the service's tags until it closes (a tag
// update waits for a gossip round, which Close does not), so every
// member remembers the IDs that left its configuration while gossip
// still names them, and a leader never adds one back. If the request
// fails, the member stays in the configuration, counted on though it
// no longer answers, until its node leaves or fails.
//
// Autopilot (on the leader, one change at a time): a member whose node
// is alive under a new Raft ID restarted, and lost its state, so it is
// removed at once; one unseen for the failure threshold (2 s on
// cluster.Local, 10 s on LAN, 30 s on WAN) is removed then. Alive nodes
// are added as learners, and promoted once caught up to within 64
// entries of the leader's log, two at a time when that keeps the number
// of voters odd; voters beyond the target are removed. A leaving node
// (cluster.Node.Leave) hands leadership to a caught-up voter and asks to
// be removed before it announces its departure. A member that finds
// itself removed, or cut off from the leader gossip names for the
// failure threshold, comes back under a new Raft ID: a removed ID is
// never added back.
//
// # Safety
//
//   - V1: every grant and every change of the configuration is decided
//     by a majority of one configuration: it is an entry of the Raft log,
//     committed by a majority of the configuration in force.
//   - V2: tokens and terms keep increasing across any sequence of
//     one-at-a-time restarts. A restarted node joins under a new ID as a
//     learner and receives the log, or a snapshot of the table, before it
//     is promoted; the table's counter is in both. A majority of the
//     configuration survives every single replacement, so no committed
//     entry is lost. With a DataDir on every node, across any restarts,
//     the whole cluster's at once included: the counter is in every
//     member's directory, and the group goes on from a majority of them.
//   - V3: a command costs one round trip to the leader and one Raft round
//     among the voters, whatever the number of members.
//   - V4: a group is never founded beside one that has had a leader and
//     lives on a majority of its voters, unless a majority of the
//     members the founder knows are processes that never saw that group
//     led (see Founding): a node that saw it led never founds, and never
//     answers a founder that it knows of no group; a founder hears from
//     every node it sees, and they must be a majority of the largest
//     quorum basis among them. (Raft gives V1 within one group; V4 is
//     what keeps it to one group.)
//
// Raft's messages travel as cluster notifications (cluster.Node.Notify:
// no reply frame, handled in order per connection), batched per peer.
// The empty append by which the leader tells followers of each new
// commit index is held for up to one heartbeat interval (20 ms: every
// other 10 ms tick; elections time out after 10 to 19 ticks) and dropped
// when a later append, or a heartbeat with a commit index as high, to
// the same follower carries it: that halves the messages of a command. A
// follower then learns a commit up to 20 ms late, which delays only its
// own apply (the leader answers commands; a new leader applies what was
// committed before it serves). Both are losses or delays Raft tolerates
// by design; no safety property depends on delivery. The leader sends
// each append at once only to the followers a majority needs (two of
// four with five voters) and holds those to the others for up to a tick
// (10 ms), merged (raftgroup's spare followers): a command costs the
// same rounds with five voters as with three, plus a message a tick to
// each spare.
//
// Renewals (commands that are all OpRenew) wait on the leader for up to
// 10 ms (at most 1/32 of the shortest TTL they renew) for others, and
// those that arrived together are proposed as one entry (at most 256
// commands): one append per follower instead of one per renewal. Nobody
// waits on a renewal's answer (its lease starts at its send time), so
// the wait costs the holder only that much of its margin; an entry of
// several commands applies them in order, each with its own result, as
// if they were proposed one by one, so batching changes when a renewal
// is applied, never what it does. Lock holders put their renewals on a
// common grid and a node sends those of one instant as one request
// (lockmgr), so a period's renewals of a whole cluster reach the leader
// together and mostly go as one entry.
//
// Raft's own safety needs storage that a member never loses while it
// counts: without a DataDir storage is in memory, which is why a
// restarted process never reuses an ID; with one, it reuses only the ID
// whose state its directory holds (see Durability).
//
// # Hazards
//
//   - Without a DataDir, losing a majority of the voters at once (three
//     of five crash or restart together) loses the group: the survivors
//     cannot commit, and no member holds anything durable to rebuild
//     from. (With DataDirs, the group waits for a majority to come back
//     on their directories, for as long as that takes: a node never
//     founds another, see Durability.) Locks and
//     elections are then unavailable (Do returns ctx's error); rebuilding
//     a group from a survivor's state after a quiet period is not done.
//     A new group forms once every process that saw the lost one has
//     restarted (a rolling restart of the whole cluster will do), with
//     no quiet period of its own: start that restart no sooner than the
//     longest lease TTL after the loss. Its tokens are above the lost
//     group's (its floor is its founding time). A group that is lost
//     before it ever had a leader granted nothing; its members give up
//     after twice the failure threshold and a group is founded again
//     with no restart.
//   - A cluster that is new and split at once (a group founded and cut
//     off before any node of the other side saw its members' roles, a
//     gossip round) can found a second group on the other side, if that
//     side holds a majority of the members: see the next hazard.
//   - Without ExpectedSize, a node's quorum basis is what it has seen,
//     and a node that joins learns only the members alive for the node
//     it joins through (memberlist passes on no failed member it never
//     saw itself). Nodes that restart on the minority side of a
//     partition, away from every node that saw the group, know only
//     each other and can found a second group there; so can a node that
//     restarts alone and never calls Join (a bootstrap node others join).
//     V4's "a majority of the members the founder knows" is then a
//     majority of very few. Set cluster.Config.ExpectedSize on every
//     node: a founding then needs that many nodes, every one of them
//     answering that it never saw a group.
//   - A group that lost a majority of its voters keeps its survivors'
//     role tags. When two groups meet, the younger dissolves into the
//     older, even if the older is such a lost group; every node has
//     then seen a group, so nobody founds: locks and elections are
//     unavailable until every node has restarted (see the first hazard).
//   - Two groups that formed apart (nodes that never saw each other's
//     majority before meeting) merge by dissolving the one with the
//     higher ID: its members join the other as new members, and its
//     grants are forgotten, so a lock held in both may overlap and its
//     tokens may go back. Set cluster.Config.ExpectedSize on every node to
//     the cluster's size to make that need twice as many nodes.
//   - With DataDirs, a node that comes back with an old directory
//     restores the group it was in. If the cluster was founded afresh
//     meanwhile (DataDirs removed while that node was down), the two
//     groups meet and the younger, the new one, dissolves into the old
//     one, as in the hazard above, even though the old one has no
//     majority left: remove every DataDir, that node's included, before
//     starting any node again. Likewise, a cluster whose last voter
//     left (cluster.Node.Leave) keeps its group's state in that node's
//     DataDir alone, and no other node founds a group (each saw one):
//     start that node again on its directory, or remove every DataDir.
//   - Peers are trusted: a member checks that a Raft message's sender ID
//     belongs to the node that sent it, but a node that holds the
//     cluster's key can still send well-formed lies (raft panics on some,
//     a commit index beyond the log).
//   - Roles travel by gossip, so a client may reach an old leader first
//     and be redirected: a few gossip rounds after a leader change cost
//     one extra hop.
package voters
