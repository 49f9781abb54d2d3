// Package cluster is the membership and messaging layer of gossipsync: each
// service instance embeds a Node, nodes find each other by gossip (serf over
// memberlist), and any member can call a method on any other by name.
//
//	n, err := cluster.New(cluster.Config{Name: "a", BindAddr: "127.0.0.1:7946", SecretKey: key})
//	if err != nil { ... }
//	defer n.Close()
//	if _, err := n.Join(ctx, "127.0.0.1:7947"); err != nil { ... }
//	cluster.HandleFunc(n, "greet", func(ctx context.Context, from string, name string) (string, error) {
//		return "hello " + name + " from " + n.Name(), nil
//	})
//	var reply string
//	err = n.Call(ctx, "b", "greet", "you", &reply)
//
// # Starting
//
// New returns a whole node. It binds the address first, but nothing read
// from the network reaches the node (RPC handshakes, handlers, gossip)
// until the node is complete: a peer that connects or gossips while New
// runs waits until New has finished, and is refused if New fails. Methods
// are served from the moment they are registered with Handle; a call that
// arrives earlier fails with ErrUnknownMethod, so packages built on the
// node register their methods once their own state exists.
//
// # Joining
//
// Join takes seeds in three forms, the prefixes of Grafana's dskit:
// "ip:port" (or "ip", port 7946); "dns+host:port", whose A and AAAA
// records are all seeds; and "dnssrv+name", whose SRV records are all
// seeds, each target's addresses at its port. Names are looked up with
// Config.Resolver (net.DefaultResolver unless set), again on every
// attempt, and this node's own address is skipped, so every instance of
// a service can be started with the same seeds: on Kubernetes,
// "dns+<headless service>:7946", a Service with clusterIP None and
// publishNotReadyAddresses, which lists every pod as soon as it has an
// IP (see examples/kubernetes).
//
// Join waits for the cluster: while no seed can be contacted (nobody
// answers yet, a name has no address yet, a lookup fails) it tries
// again with exponential backoff (100 ms doubling to 5 s on LAN, with
// jitter) until ctx ends, so instances may start in any order. A
// refusal returns at once: a malformed seed (ErrBadSeed), a wrong key
// (ErrAuth), a name in use (ErrDuplicateName). When ctx ends first, the
// error says why the last attempt failed and wraps the last lookup
// error. Give ctx a deadline where an unreachable cluster must be
// reported rather than waited for.
//
// After a Join that succeeded, a node that sees no other alive member
// for a while (5 s on LAN, 1 s on Local, 30 s on WAN) joins the same
// seeds again in the background, looking them up again, with the same
// backoff, until it has company, leaves or closes. That mends a node
// that was declared failed by the others during a partition, and a node
// whose peers all came back at new addresses, which serf's own
// reconnection (to the addresses it knew) cannot find. The hazard: a
// node that was cut off, or whose peers restarted, is alone until then
// and serves as a cluster of one; the quorum basis (below) keeps it
// from deciding anything on its own.
//
// # Membership
//
// Members lists the alive members; Watch delivers joins, leaves,
// failures and tag updates until its ctx ends (never blocking gossip: a
// full buffer drops events, and Watcher.Dropped counts them); MembersVersion moves on each of them, so a
// service that derives state from Members often derives it again only
// when the version moved (Members copies every member's tags). A member that stops answering is declared
// failed after the profile's detection time (Local: about a second; LAN:
// a few seconds; WAN: tens of seconds). Leave announces a graceful
// departure; Close without Leave looks like a crash to the others.
//
// QuorumSize is the majority of the quorum basis that the other packages
// use to refuse work on the minority side of a partition: ExpectedSize if
// configured, else every member ever seen alive less those that left
// gracefully. A failed member keeps counting, so a node alone in a
// partition never believes it holds a majority. The hazard: a cluster
// that loses members by crashing (not leaving) for good keeps a basis that
// is too large and may lose quorum; have retiring nodes Leave.
//
// # RPC
//
// Call sends a msgpack-encoded request to a member and waits for its
// reply. Each pair of nodes shares one connection, opened on first use
// and used by both sides, with requests multiplexed by id. The caller's
// ctx deadline travels with the request and bounds the handler's ctx.
// An error returned by a handler comes back as a *RemoteError; errors
// registered with RegisterError keep their identity across the wire, so
// errors.Is works on the caller's side. Frames carry a protocol version
// byte, and frames over Config.MaxFrame (4 MiB by default) are refused.
// Notify sends a request without waiting for a reply (no reply is sent):
// for messages whose loss the sender repairs, such as Raft's; one
// connection's notifications are handled in the order sent, one at a
// time.
// A malformed, truncated, oversized or unauthenticated frame closes the
// connection it came on, is logged with the reason (a flood of them is
// summarized; see Security), and leaves the node serving.
//
// Gossip packets, gossip streams and RPC streams all use the one address
// of BindAddr (UDP and TCP on the same port).
//
// # Security
//
// With Config.SecretKey (16, 24 or 32 bytes) set, the key protects:
//   - gossip: every packet and stream is encrypted and authenticated with
//     AES-GCM by memberlist's keyring, and one without the key is dropped,
//     so a node without it never appears in a member list and cannot read
//     who the members are;
//   - RPC: every connection runs a mutual HMAC-SHA256 challenge with fresh
//     nonces on both sides before any method runs, then seals each frame
//     with AES-256-GCM under per-connection, per-direction keys derived
//     from the secret and both nonces, with a frame counter as the nonce,
//     so that frames cannot be read, changed, replayed or reordered (see
//     secure.go). A node without the key, or with another, is refused with
//     ErrAuth; Join reports it at once;
//   - membership: a keyed node tells a peer nothing about the cluster
//     before the peer has proven the key. A client without it learns no
//     member's name or address, not even the name of the node it dialed,
//     and is refused with a message that names nobody (ErrAuth). Only
//     after the proof does the node check the dialer's name against its
//     members (ErrDuplicateName, with the conflicting member's address)
//     and send its own name, bound to both nonces by its own proof. Hiding
//     the listener's name too costs nothing (a dialer needs it only once
//     it is talking to a key holder), and a scanner learns no more than
//     that the port speaks gossipsync and wants a key.
//
// What the key does not protect:
//   - Which node is which. The key authenticates the cluster, not the
//     node: every node holds the same key, and a node's name (Request.From,
//     the names in Members) and its advertised addresses are what the node
//     says they are. A key holder can claim another node's name and
//     address; it is then served under that name, and while it holds the
//     only connection to a node under that name, that node's calls to the
//     name go to it. Names are checked only against live members at other
//     addresses (ErrDuplicateName), which catches mistakes, not an
//     insider. Identity per node would need a credential per node that the
//     others verify: a key per node, or certificates, e.g. mutual TLS with
//     a cluster CA that puts each node's name in its certificate, the RPC
//     handshake checking that a peer's claimed name is its certificate's,
//     and a way to revoke one node without rotating every key; gossip
//     would need the same (memberlist's keyring knows only shared keys),
//     or serf's messages signed by their sender.
//   - An insider with the key: it can read all gossip and RPC, join, call
//     every method under any name, vote, take locks and forge gossip. Guard
//     the key like a root credential, and rotate it (below) when a node
//     that held it can no longer be trusted.
//   - Names on the wire. A dialer's hello (its name and address) and a
//     refusal after the key proof travel in the clear, before the
//     connection's keys exist: someone who watches the network sees which
//     names talk from which addresses. The key keeps the membership from a
//     client that asks, not from one that watches.
//   - Availability against a flood. Bad input costs the node bounded work
//     and memory and never crashes it, but a flood still takes bandwidth,
//     CPU and connection slots; see the limits below.
//
// Without a key the cluster is open: anyone who can reach the port can
// join, list the members and call methods, and the handshake names the
// node at once. Use a key on any network you do not fully trust.
//
// Key rotation works like Consul's keyring, one rolling restart per step:
//  1. add the new key to SecondaryKeys on every node;
//  2. make the new key the SecretKey and the old one a SecondaryKey;
//  3. remove the old key from SecondaryKeys.
//
// At every step each node can read every other node's gossip and accepts
// its RPC connections: a node sends with its SecretKey and accepts any of
// its keys.
//
// Limits before authentication. What a peer that has not proven the key
// can make a node hold is bounded. A handshake frame is at most 4 KiB: a
// larger declared length closes the connection before anything is
// buffered (later frames are bounded by Config.MaxFrame, and a reader
// allocates at most 64 KiB of a frame before its bytes arrive). A msgpack
// value, in a frame's header or its body, may nest at most 100 deep;
// deeper input is malformed, not a risk to the stack. Gossip streams and
// connections are bounded by Config.Limits (zero values mean the
// defaults):
//
//   - Connections: at most 256 inbound connections may be unauthenticated
//     at once (accepted and not yet classified as gossip or RPC, or in the
//     RPC handshake), 64 from one source (an IPv4 address or an IPv6 /64;
//     nodes on one host share one). One deadline, 5 s from accept, covers
//     the first bytes and the whole handshake. A connection past the
//     per-source limit is closed at once. At the total, a connection from
//     a source holding at least two fewer than the largest source takes
//     the place of that source's oldest, so a flood from a few addresses
//     cannot keep a joining node out. Close closes every such connection
//     at once.
//   - Gossip streams: at most 64 inbound gossip streams (push-pulls,
//     joins, stream pings) are served at once, 16 from one source; one
//     more is closed at once.
//   - With a key: memberlist reads a whole encrypted stream into memory
//     before it can check it, so the node reads the 5-byte header itself.
//     It closes a stream that is not encrypted, or that declares more than
//     GossipStreamBytes (4 MiB), before reading more. The sizes declared by
//     the streams being served add up to at most GossipBytes (8 MiB), half
//     of it from one source; streams up to 64 KiB do not count, so pings
//     and small push-pulls are never crowded out. A push-pull weighs about
//     0.8 KiB per member with 128-byte names and 470 bytes of tags (0.1 KiB
//     with short names), so 4 MiB holds about 5,000 members of the largest
//     kind; raise both limits for more. Measured on loopback: a flood of
//     streams declaring 20 MiB grows the heap by 1-2 MB (180-240 MB
//     without these limits); streams declaring 4 MiB from three addresses,
//     by 30-40 MB.
//   - Without a key nothing is authenticated and only the counts apply:
//     memberlist's plaintext streams declare no total size up front, and
//     anyone who can reach the port may join anyway.
//
// What the limits do not prevent: streams within them are read and
// decrypted like any gossip, so a flood of them costs bandwidth and CPU. A
// flood from many addresses fills the totals, and joins and push-pulls
// fail until it stops. Filter the port at the network where that matters.
//
// A refused connection, or a gossip packet or stream that memberlist
// rejects, costs a counter rather than a log line: of each kind at most 5
// lines are written per 10 s, and the ones left out are counted in a
// later line ("N more ... in the last 10s").
//
// # Networks
//
// Config.Network is the one seam between a node and the wire; the default
// is real sockets. Package sim supplies an in-memory network with loss,
// delay, partitions and crashes, on which whole clusters run inside a
// testing/synctest bubble.
package cluster
