package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file run the real binary: three agents on loopback,
// then the lock and elect commands as an operator's shell would.

// cliCluster is three agents started from the built binary.
type cliCluster struct {
	t       *testing.T
	bin     string
	dir     string
	keyFile string
	seed    string
	agents  []*exec.Cmd
	https   []string
}

// buildBinary builds the gossipsync command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "gossipsync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startAgents(t *testing.T) *cliCluster {
	t.Helper()
	c := &cliCluster{t: t, bin: buildBinary(t), dir: t.TempDir()}
	c.keyFile = filepath.Join(c.dir, "key")
	if err := os.WriteFile(c.keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		gossip, http := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
		if i == 1 {
			c.seed = gossip
		}
		cmd := exec.Command(c.bin, "agent", "-name", fmt.Sprintf("a%d", i), "-bind", gossip, "-join", c.seed,
			"-key-file", c.keyFile, "-expect", "3", "-profile", "local", "-http", http)
		cmd.Stdout, cmd.Stderr = c.log(fmt.Sprintf("a%d", i)), c.log(fmt.Sprintf("a%d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.agents = append(c.agents, cmd)
		c.https = append(c.https, http)
	}
	t.Cleanup(func() {
		for _, a := range c.agents {
			a.Process.Signal(syscall.SIGCONT)
			a.Process.Signal(syscall.SIGTERM)
		}
		for _, a := range c.agents {
			done := make(chan struct{})
			go func() { a.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				a.Process.Kill()
				<-done
			}
		}
	})
	c.waitFor(60*time.Second, "three voters", func() bool {
		var st struct {
			Voters struct{ Voters []string } `json:"voters"`
		}
		return getJSON(c.https[0]+"/v1/status", &st) == nil && len(st.Voters.Voters) == 3
	})
	return c
}

// log returns a writer that logs a process's output lines in the test.
func (c *cliCluster) log(name string) *lineLog { return &lineLog{t: c.t, name: name} }

type lineLog struct {
	t    *testing.T
	name string
	mu   sync.Mutex
	buf  bytes.Buffer
	all  bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Logf("%s: %s", l.name, strings.TrimRight(line, "\n"))
	}
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// command returns a lock or elect command joined to the agents.
func (c *cliCluster) command(name string, args ...string) (*exec.Cmd, *lineLog) {
	sub, rest := args[0], args[1:]
	full := append([]string{sub, "-join", c.seed, "-key-file", c.keyFile, "-profile", "local"}, rest...)
	cmd := exec.Command(c.bin, full...)
	out := c.log(name)
	cmd.Stdout, cmd.Stderr = out, c.log(name+" (stderr)")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to kill it with its child
	return cmd, out
}

func (c *cliCluster) waitFor(d time.Duration, what string, f func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not happen within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exitCode waits for cmd to exit within d and returns its status.
func exitCode(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%s did not exit within %v", cmd.Args[1], d)
		return -1
	}
}

func readInts(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("%s: %q is not a token", path, f)
		}
		out = append(out, v)
	}
	return out
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
