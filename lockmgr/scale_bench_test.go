//go:build unix

package lockmgr_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// BenchmarkScale measures how the cost of locks grows with the cluster:
// 3, 9 and 27 nodes on real loopback sockets, all in this process
// (cluster.LAN profile unless GOSSIPSYNC_SCALE_PROFILE says otherwise,
// the default number of voters unless GOSSIPSYNC_SCALE_VOTERS does,
// ExpectedSize = nodes on every node, one Manager each). Each size
// starts one cluster, waits until a first Acquire succeeds (the voter
// group is formed), and runs on it:
//
//   - idle: the process's CPU time (user+sys, getrusage) per wall
//     second while no lock is held, "cpu-s/s". An op is 1 ms of
//     observation, so -benchtime 5000x watches for 5 s.
//   - pairs: one client takes and releases distinct ids in sequence
//     (Acquire+Release), from the highest-named node that is not a
//     voter (the group is founded from the lowest names; with 3 nodes
//     every node is one, and the client is then one that does not lead
//     the voters): "pairs/s" and the process's "cpu-ms/pair". An op is
//     one pair.
//   - held200: 200 locks with a TTL of 1 s (renewed every third of it),
//     acquired on every node in turn and held; the process's "cpu-s/s"
//     while they renew, and how many were "lost" (Done closed). An op
//     is 1 ms of observation, as for idle.
//
// The process's CPU time covers every node, so it is the cost of the
// whole cluster, whatever node does the work. The parent logs a table
// (go test prints it with -v).
//
//	go test -v -run '^$' -bench BenchmarkScale -benchtime 5000x ./lockmgr/
//
// The file also builds on the lockmgr before the voter core (it uses no
// helper of the other test files and only the public API), where no
// voter group forms: every node is then "no voter" and the highest name
// is the client.
func BenchmarkScale(b *testing.B) {
	b.Logf("load average before: %s", loadAvg())
	var rows []*scaleRow
	for _, n := range []int{3, 9, 27} {
		row := &scaleRow{nodes: n, pairsPerSec: math.NaN(), cpuPerPair: math.NaN(), held: math.NaN(), idle: math.NaN(), lost: -1}
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchScale(b, row) })
		if row.ran {
			rows = append(rows, row)
		}
	}
	var t strings.Builder
	fmt.Fprintf(&t, "load average after: %s\n", loadAvg())
	fmt.Fprintf(&t, "%5s %6s %8s %14s %8s %11s %13s %14s %12s %12s %4s\n",
		"nodes", "voters", "startup", "client", "pairs/s", "cpu-ms/pair", "above-idle-ms", "held200 cpu/s", "above-idle/s", "idle cpu/s", "lost")
	for _, r := range rows {
		fmt.Fprintf(&t, "%5d %6d %8s %14s %8.0f %11.3f %13.3f %14.3f %12.3f %12.3f %4d\n",
			r.nodes, r.voters, r.startup.Round(10*time.Millisecond), r.client, r.pairsPerSec, r.cpuPerPair,
			r.cpuPerPair-r.idle*1e3/r.pairsPerSec, r.held, r.held-r.idle, r.idle, r.lost)
	}
	b.Logf("BenchmarkScale (cpu = process user+sys; above-idle = less the idle cluster's CPU over the same time):\n%s", t.String())
}

// scaleRow is one cluster size's figures, for the table.
type scaleRow struct {
	nodes       int
	ran         bool
	voters      int
	startup     time.Duration // start, join, Managers, first grant
	client      string        // the pairs' node and its role
	pairsPerSec float64
	cpuPerPair  float64 // ms
	held        float64 // cpu-s/s with 200 locks held
	idle        float64 // cpu-s/s
	lost        int     // held locks that ended during the window
}

const (
	scaleTTL   = time.Second
	scaleDelay = scaleTTL + scaleTTL/4 // the least LockDelay that scaleTTL allows
	scaleHeld  = 200
	scaleStep  = time.Millisecond // an op of the idle and held200 windows
)

func benchScale(b *testing.B, row *scaleRow) {
	n := row.nodes
	begin := time.Now()
	nodes, ms := startScale(b, n)
	formScale(b, ms[len(ms)-1])
	voters := waitVoters(b, nodes, scaleVoters(b))
	row.startup = time.Since(begin)
	ci := scaleClient(nodes, voters)
	role := "no voter"
	if slices.Contains(voters, nodes[ci].Name()) {
		role = "voter"
	}
	row.client = nodes[ci].Name() + " " + role
	row.voters = len(voters)
	row.ran = true
	b.Logf("%d nodes up and granting in %v; voters %v, leader %s; client %s", n, row.startup.Round(time.Millisecond), voters, voterLeader(nodes), row.client)

	b.Run("idle", func(b *testing.B) {
		runtime.GC()
		// The formation's gossip (every node's voter tags) is over: a
		// broadcast goes 8*ceil(log10(n+1)) rounds from each node, 3.2 s
		// of 200 ms rounds for 27 nodes on LAN.
		time.Sleep(5 * time.Second)
		row.idle = scaleWindow(b)
		b.ReportMetric(row.idle, "cpu-s/s")
	})

	b.Run("pairs", func(b *testing.B) {
		client := ms[ci]
		ctx := context.Background()
		prefix := fmt.Sprintf("p%d-%d-", n, time.Now().UnixNano())
		i := 0
		var t0 time.Time
		var cpu0 time.Duration
		for b.Loop() {
			if i == 0 {
				t0, cpu0 = time.Now(), cpuTime()
			}
			if err := scalePair(ctx, client, prefix+fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		wall, cpu := time.Since(t0), cpuTime()-cpu0
		row.pairsPerSec = float64(i) / wall.Seconds()
		row.cpuPerPair = cpu.Seconds() * 1e3 / float64(i)
		b.ReportMetric(row.pairsPerSec, "pairs/s")
		b.ReportMetric(row.cpuPerPair, "cpu-ms/pair")
	})

	b.Run("held200", func(b *testing.B) {
		locks := holdScale(b, ms, fmt.Sprintf("h%d-%d-", n, time.Now().UnixNano()))
		defer releaseScale(b, locks)
		time.Sleep(scaleTTL / 2) // the renewals are under way
		row.held = scaleWindow(b)
		row.lost = 0
		for _, l := range locks {
			select {
			case <-l.Done():
				row.lost++
			default:
			}
		}
		if row.lost > 0 {
			b.Logf("%d of %d held locks were lost during the window", row.lost, len(locks))
		}
		b.ReportMetric(row.held, "cpu-s/s")
		b.ReportMetric(float64(row.lost), "lost")
	})
}

// startScale starts n nodes on loopback, one Manager each (LockDelay
// scaleDelay). The Managers close at cleanup, before the nodes.
func startScale(b *testing.B, n int) ([]*cluster.Node, []*lockmgr.Manager) {
	b.Helper()
	v := scaleVoters(b)
	nodes := clustertest.StartProfile(b, n, scaleProfile(b), func(int) cluster.Config { return cluster.Config{ExpectedSize: n, Voters: v} })
	ms := make([]*lockmgr.Manager, 0, n)
	b.Cleanup(func() { // registered after the nodes', so it runs first
		for _, m := range ms {
			m.Close()
		}
	})
	for _, node := range nodes {
		m, err := lockmgr.New(node, lockmgr.LockDelay(scaleDelay))
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	return nodes, ms
}

// scaleVoters is the Voters setting of the benchmark's nodes: 0 (the
// default: 3 voters in a 3-node cluster, 5 from 5 nodes on), or what
// GOSSIPSYNC_SCALE_VOTERS says. With 3 the voter group is the same at
// every size, so the figures show what the number of members alone
// costs; the default adds what two more voters cost (each Raft round
// reaches four followers instead of two).
func scaleVoters(b *testing.B) int {
	s := os.Getenv("GOSSIPSYNC_SCALE_VOTERS")
	if s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		b.Fatalf("GOSSIPSYNC_SCALE_VOTERS: %v", err)
	}
	return v
}

// scaleProfile is the profile of the benchmark's nodes: LAN, the default
// users get, or what GOSSIPSYNC_SCALE_PROFILE names ("local" probes and
// gossips about ten times as often, so its idle cost grows faster with
// the number of nodes).
func scaleProfile(b *testing.B) cluster.Profile {
	name := os.Getenv("GOSSIPSYNC_SCALE_PROFILE")
	if name == "" {
		return cluster.LAN
	}
	p, err := cluster.ParseProfile(name)
	if err != nil {
		b.Fatalf("GOSSIPSYNC_SCALE_PROFILE: %v", err)
	}
	return p
}

// formScale waits, up to 30 s, until m is granted a lock: the voter
// group is founded and has a leader (before the voter core: the
// acceptors' quiet period is over).
func formScale(b *testing.B, m *lockmgr.Manager) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		err := scalePair(context.Background(), m, fmt.Sprintf("form-%d-%d", time.Now().UnixNano(), i))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("no grant 30 s after the start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tags that internal/voters gossips: "_v" is a node's Raft ID, "_vg"
// its role in the group, "<group>/<l|v|r>". Nodes before the voter core
// gossip neither.
const (
	voterIDTag   = "_v"
	voterRoleTag = "_vg"
	// defaultVoters is cluster.DefaultVoters, which the code before
	// the voter core does not have.
	defaultVoters = 5
)

// waitVoters returns the voters (leader included) once every node sees
// as many as the group should have (Voters is 5: min(5, n), odd) and the
// first node sees the leader, or
// nil at once when no node runs the voter core. It waits up to 10 s.
func waitVoters(b *testing.B, nodes []*cluster.Node, voters int) []string {
	b.Helper()
	core := false
	for _, m := range nodes[0].Members() {
		core = core || m.Tags[voterIDTag] != ""
	}
	if !core {
		return nil
	}
	want := min(len(nodes), cmp.Or(voters, defaultVoters))
	if want%2 == 0 {
		want--
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		ok := true
		for _, node := range nodes {
			got = voterNames(node)
			ok = ok && len(got) == want
		}
		ok = ok && voterLeader(nodes) != "" // scaleClient needs it
		if ok {
			return got
		}
		if time.Now().After(deadline) {
			b.Logf("after 10 s %s sees voters %v, want %d of them", nodes[len(nodes)-1].Name(), got, want)
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// voterNames returns the members that node sees as voters or leader.
func voterNames(node *cluster.Node) []string {
	var names []string
	for _, m := range node.Members() {
		if _, r, ok := strings.Cut(m.Tags[voterRoleTag], "/"); ok && (r == "l" || r == "v") {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names
}

// voterLeader returns the voters' leader, as the first node sees it by
// gossip.
func voterLeader(nodes []*cluster.Node) string {
	for _, m := range nodes[0].Members() {
		if _, r, ok := strings.Cut(m.Tags[voterRoleTag], "/"); ok && r == "l" {
			return m.Name
		}
	}
	return ""
}

// scaleClient returns the index of the highest-named node that is not a
// voter or, if all are, of the highest-named one that does not lead them
// (a client on the leader would skip a hop the others make).
func scaleClient(nodes []*cluster.Node, voters []string) int {
	idx := make([]int, len(nodes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(nodes[b].Name(), nodes[a].Name()) })
	for _, i := range idx {
		if !slices.Contains(voters, nodes[i].Name()) {
			return i
		}
	}
	leader := voterLeader(nodes)
	for _, i := range idx {
		if nodes[i].Name() != leader {
			return i
		}
	}
	return idx[0]
}

// scalePair is one Acquire+Release of id on m.
func scalePair(ctx context.Context, m *lockmgr.Manager, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := m.Acquire(ctx, id, lockmgr.TTL(scaleTTL))
	if err != nil {
		return fmt.Errorf("acquire %s: %w", id, err)
	}
	if err := l.Release(ctx); err != nil {
		return fmt.Errorf("release %s token %d: %w", id, l.Token(), err)
	}
	return nil
}

// holdScale acquires scaleHeld distinct ids, the i-th on ms[i%len(ms)],
// 16 at a time, and returns the locks.
func holdScale(b *testing.B, ms []*lockmgr.Manager, prefix string) []*lockmgr.Lock {
	b.Helper()
	locks := make([]*lockmgr.Lock, scaleHeld)
	errs := make([]error, scaleHeld)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range locks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			locks[i], errs[i] = ms[i%len(ms)].Acquire(ctx, prefix+fmt.Sprint(i), lockmgr.TTL(scaleTTL))
		})
	}
	wg.Wait()
	var held []*lockmgr.Lock
	var first error
	for i, l := range locks {
		if errs[i] != nil {
			first = cmp.Or(first, errs[i])
			continue
		}
		held = append(held, l)
	}
	if first != nil {
		releaseScale(b, held)
		b.Fatalf("%d of %d acquisitions failed, the first: %v", len(locks)-len(held), len(locks), first)
	}
	return held
}

// releaseScale releases locks, 16 at a time. A lock that was lost is
// not an error here: held200 counts those.
func releaseScale(b *testing.B, locks []*lockmgr.Lock) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, l := range locks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l.Release(ctx)
		})
	}
	wg.Wait()
}

// scaleWindow watches the process for b's ops of scaleStep each and
// returns its CPU seconds per wall second. It sleeps in slices of ten
// ops, so that its own wake-ups cost next to nothing.
func scaleWindow(b *testing.B) float64 {
	i := 0
	var t0 time.Time
	var cpu0 time.Duration
	for b.Loop() {
		if i == 0 {
			t0, cpu0 = time.Now(), cpuTime()
		}
		if i%10 == 0 {
			time.Sleep(time.Until(t0.Add(time.Duration(i+10) * scaleStep)))
		}
		i++
	}
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	return cpu.Seconds() / wall.Seconds()
}

// cpuTime returns the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg returns the host's load averages (1, 5, 15 min), where /proc
// has them.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
