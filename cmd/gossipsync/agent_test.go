package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// syncBuffer is a bytes.Buffer that a command writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex // protects b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testAgent is `gossipsync agent` running in-process.
type testAgent struct {
	name           string
	gossip, http   string // the addresses it printed
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int // its exit status
}

// startAgentCmd runs the agent command as node name on free loopback
// ports, with args added, and waits until it prints its addresses. It
// stops at cleanup (see stop).
func startAgentCmd(t *testing.T, name, keyFile string, args ...string) *testAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &testAgent{name: name, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	args = append([]string{"agent", "-name", name, "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0",
		"-profile", "local", "-key-file", keyFile, "-expect", "3", "-voters", "3"}, args...)
	go func() { a.done <- run(ctx, args, a.stdout, a.stderr) }()
	t.Cleanup(func() { a.stop(t) })
	re := regexp.MustCompile(`node ` + name + `, gossip (\S+), http http://(\S+)/ui\n`)
	waitFor(t, 30*time.Second, name+" to start", func() bool {
		m := re.FindStringSubmatch(a.stdout.String())
		if m != nil {
			a.gossip, a.http = m[1], m[2]
		}
		select {
		case code := <-a.done:
			t.Fatalf("agent %s exited with %d:\n%s%s", name, code, a.stdout.String(), a.stderr.String())
		default:
		}
		return m != nil
	})
	return a
}

// stop interrupts the agent and checks that it leaves and exits 0.
func (a *testAgent) stop(t *testing.T) {
	t.Helper()
	a.cancel()
	select {
	case code, ok := <-a.done:
		if !ok {
			return // stopped before
		}
		close(a.done)
		if code != 0 || !strings.Contains(a.stdout.String(), "gossipsync agent: left\n") {
			t.Errorf("agent %s: exit status %d; want 0 after leaving\nstdout:\n%s\nstderr:\n%s", a.name, code, a.stdout.String(), a.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("agent %s did not exit within 60s of its interrupt", a.name)
	}
}

// waitFor polls cond until it holds, failing the test after d with
// what, and detail's say if given.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, f := range detail {
				msg += ": " + f()
			}
			t.Fatalf("timed out after %v waiting for %s%s", d, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeKey writes a fresh cluster key, as hex, to a file and returns its
// path.
func writeKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusOf reads an agent's /v1/status.
func statusOf(t *testing.T, a *testAgent) (Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return fetchStatus(ctx, a.http)
}

// get returns the status code and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Three agents, started in-process, join; a client node joins as a
// non-voter and takes a lock; every agent's /v1/status shows the
// members, the three voters, the leader of the agents' group and the
// lock with its holder and token; /healthz says ok; /ui renders the same
// in a browser. An agent that is interrupted leaves: the others see it
// left.
func TestAgentCluster(t *testing.T) {
	key := writeKey(t)
	a := startAgentCmd(t, "a", key, "-tag", "zone=eu-1")
	b := startAgentCmd(t, "b", key, "-tag", "zone=eu-2", "-join", a.gossip)
	c := startAgentCmd(t, "c", key, "-tag", "zone=us-1", "-join", a.gossip, "-join", b.gossip)
	agents := []*testAgent{a, b, c}

	// The client: a short-lived non-voting member, as the lock command
	// makes it.
	f := nodeFlags{name: "client", bind: "127.0.0.1:0", join: seedList{c.gossip}, keyFile: key, profile: "local",
		logLevel: "warn", nonVoter: true}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := f.open(ctx)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer node.Close()
	locks, err := lockmgr.New(node)
	if err != nil {
		t.Fatal(err)
	}
	defer locks.Close()
	l, err := locks.Acquire(ctx, "jobs/1", lockmgr.TTL(8*time.Second))
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	token := strconv.FormatUint(l.Token(), 10)

	for _, ag := range agents {
		var st Status
		var problem string
		waitFor(t, 60*time.Second, ag.name+"'s status to show the cluster and the lock", func() bool {
			st, err = statusOf(t, ag)
			if err != nil {
				problem = err.Error()
				return false
			}
			problem = clusterProblem(st, ag.name, token)
			return problem == ""
		}, func() string { return problem })
		if code, body := get(t, "http://"+ag.http+"/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("%s /healthz: %d %q; want 200 ok", ag.name, code, body)
		}
		// /metrics: the node's own figures, the voters', memberlist's
		// through the bridge, and the runtime's.
		code, body := get(t, "http://"+ag.http+"/metrics")
		for _, want := range []string{"\ngossipsync_cluster_members{state=\"alive\"} 4\n", "\ngossipsync_voters_voters 3\n",
			"\n# TYPE gossipsync_lock_acquire_seconds histogram\n", "\nmemberlist_", "\ngo_goroutines "} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("%s /metrics: %d, lacks %q", ag.name, code, want)
			}
		}
	}

	var out bytes.Buffer
	if code := run(ctx, []string{"members", "-http", a.http}, &out, io.Discard); code != 0 ||
		!regexp.MustCompile(`(?m)^client +127\.0\.0\.1:\d+ +alive +client$`).MatchString(out.String()) {
		t.Errorf("members: exit status %d, output:\n%s\nwant a row for the client", code, out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"status", "-http", b.http}, &out, io.Discard); code != 0 ||
		!regexp.MustCompile(`(?m)^jobs/1 +client +`+token+` +\d+\.\ds$`).MatchString(out.String()) {
		t.Errorf("status: exit status %d, output:\n%s\nwant the lock's row", code, out.String())
	}

	t.Run("ui in a browser", func(t *testing.T) { checkUI(t, a) })
	if path := os.Getenv("GOSSIPSYNC_SCREENSHOT"); path != "" {
		screenshot(t, a, path)
	}

	// On a loaded machine the lease may have run out by now (the client
	// starved of CPU past its TTL): that is not the agent's doing.
	if err := l.Release(ctx); err != nil && !errors.Is(err, lockmgr.ErrNotHeld) {
		t.Errorf("Release: %v", err)
	}
	c.stop(t)
	waitFor(t, 30*time.Second, "a to see c left", func() bool {
		st, err := statusOf(t, a)
		return err == nil && slices.ContainsFunc(st.Members, func(m MemberStatus) bool { return m.Name == "c" && m.State == "left" })
	})
}

// clusterProblem says what in st, read from agent self, is not yet the
// cluster of TestAgentCluster ("" if nothing).
func clusterProblem(st Status, self, token string) string {
	var names []string
	for _, m := range st.Members {
		if m.State == "alive" {
			names = append(names, m.Name)
		}
	}
	switch {
	case st.Node.Name != self || !st.Node.Healthy:
		return "node: " + st.Node.Name + " " + st.Node.Health
	case !slices.Equal(names, []string{"a", "b", "c", "client"}):
		return "alive members: " + strings.Join(names, ",")
	case !slices.Equal(st.Voters.Voters, []string{"a", "b", "c"}) || !slices.Contains(st.Voters.Voters, st.Voters.Leader):
		return "voters: " + strings.Join(st.Voters.Voters, ",") + " led by " + st.Voters.Leader
	case st.Members[0].Tags["zone"] != "eu-1":
		return "a's tags: " + mustMarshal(st.Members[0].Tags)
	case st.Grants.Error != "":
		return "grants: " + st.Grants.Error
	case !slices.ContainsFunc(st.Leaders, func(l LeaderStatus) bool { return l.Group == agentGroup && slices.Contains(st.Voters.Voters, l.Node) }):
		return "no leader of the agents' group"
	case len(st.Locks) != 1 || st.Locks[0].ID != "jobs/1" || st.Locks[0].Node != "client" || st.Locks[0].Token != token || st.Locks[0].RemainingMS <= 0:
		return "locks: " + mustMarshal(st.Locks) + "; want jobs/1 held by client with token " + token
	}
	return ""
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// An agent with another key cannot join: it says why and exits 1, and
// the cluster never lists it.
func TestAgentWrongKey(t *testing.T) {
	a := startAgentCmd(t, "a", writeKey(t))
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, bytes.Repeat([]byte{9}, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"agent", "-name", "x", "-bind", "127.0.0.1:0", "-http", "127.0.0.1:0",
			"-profile", "local", "-key-file", other, "-join", a.gossip}, &stdout, &stderr)
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(stderr.String(), "authentication failed") {
			t.Errorf("exit status %d; want 1 with the reason\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("an agent with the wrong key did not exit")
	}
	st, err := statusOf(t, a)
	if err != nil || len(st.Members) != 1 {
		t.Errorf("a's members: %+v, %v; want only a", st.Members, err)
	}
}

// An agent whose seeds do not answer serves /healthz as 503 with the
// reason while it keeps trying, and still stops cleanly.
func TestAgentNotJoined(t *testing.T) {
	a := startAgentCmd(t, "a", writeKey(t), "-join", "127.0.0.1:1")
	var code int
	var body string
	waitFor(t, 30*time.Second, "/healthz to say why", func() bool {
		code, body = get(t, "http://"+a.http+"/healthz")
		return strings.HasPrefix(body, "not joined: ")
	}, func() string { return body })
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "127.0.0.1:1") {
		t.Errorf("/healthz: %d %q; want 503 naming the seed", code, body)
	}
	st, err := statusOf(t, a)
	if err != nil || st.Node.Healthy || st.Node.Health != strings.TrimSpace(body) || st.Grants.Error == "" {
		t.Errorf("status: node %+v, grants %+v, %v; want unhealthy with the reason, and no table", st.Node, st.Grants, err)
	}
	a.stop(t)
}
