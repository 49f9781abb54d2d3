package realnet_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/realnet"
)

// suite is a running set of realproc processes on a realnet.Net: the
// store and the nodes, each in its own namespace.
type suite struct {
	t     *testing.T
	net   *realnet.Net
	dir   string // histories and the key
	bin   string
	nodes []string

	mu      sync.Mutex
	procs   map[string]*proc // the current process of each host
	started map[int]bool     // every pid started
	faults  realnet.Faults
	windows []realnet.Window // the faults' spans, for availability figures
}

const nodePort = 7946

func (s *suite) addr(name string) string {
	return fmt.Sprintf("%s:%d", s.net.Host(name).IP, nodePort)
}

func (s *suite) storeAddr() string { return s.net.Host("store").IP + ":9000" }

// buildRealproc builds the realproc program into dir.
func buildRealproc(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "realproc")
	out, err := exec.Command("go", "build", "-o", bin, "./realproc").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./realproc: %v\n%s", err, out)
	}
	return bin
}

func newSuite(t *testing.T, prefix string, nodes int) *suite {
	t.Helper()
	dir := t.TempDir()
	s := &suite{t: t, dir: dir, bin: buildRealproc(t, dir), procs: map[string]*proc{}, started: map[int]bool{},
		faults: realnet.Faults{Killed: map[int]time.Time{}, Paused: map[int][]realnet.Window{}}}
	for i := range nodes {
		s.nodes = append(s.nodes, fmt.Sprintf("n%d", i+1))
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	realnet.CleanStale(nsPrefix)
	net, err := realnet.New(prefix, append([]string{"store"}, s.nodes...)...)
	if err != nil {
		t.Fatal(err)
	}
	s.net = net
	if err := net.EnableFilter(); err != nil {
		net.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopAll()
		if t.Failed() {
			s.dumpLogs()
		}
		if err := net.Close(); err != nil {
			t.Errorf("tear down: %v", err)
		}
	})
	s.start("store", "store", "-bind", s.storeAddr(), "-history", filepath.Join(dir, "store.jsonl"))
	s.start(realnet.Bridge, "delay", "-queue", fmt.Sprint(delayQueue), "-min", realnet.MinDelay.String(), "-max", realnet.MaxDelay.String())
	s.checkFilter()
	for _, n := range s.nodes {
		s.startNode(n)
	}
	return s
}

// start runs realproc in host's namespace. It dies with the test
// process (Pdeathsig), also when the test is killed.
func (s *suite) start(host string, args ...string) {
	s.t.Helper()
	cmd := s.net.Command(host, s.bin, args...)
	log, err := os.OpenFile(filepath.Join(s.dir, host+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", host, err)
	}
	p := &proc{host: host, cmd: cmd, exited: make(chan struct{})}
	go func() { // the only Wait: every other wait is on exited
		cmd.Wait()
		p.at = time.Now()
		close(p.exited)
	}()
	s.mu.Lock()
	s.procs[host] = p
	s.started[cmd.Process.Pid] = true
	s.mu.Unlock()
}

// proc is one process the suite started.
type proc struct {
	host     string
	cmd      *exec.Cmd
	exited   chan struct{} // closed once it exited and was reaped
	at       time.Time     // when it was reaped; set before exited closes
	expected bool          // the suite stopped it (under suite.mu)
}

// stopping marks host's process as stopped by the suite and returns it.
func (s *suite) stopping(host string) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.procs[host]
	p.expected = true
	return p
}

// checkAlive fails the test for every process that exited without the
// suite stopping it (a crash of the program under test).
func (s *suite) checkAlive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for host, p := range s.procs {
		select {
		case <-p.exited:
			if !p.expected {
				s.t.Errorf("%s (pid %d) exited on its own at %s: %v", host, p.cmd.Process.Pid, p.at.Format("15:04:05.000"), p.cmd.ProcessState)
			}
		default:
		}
	}
}

func (s *suite) startNode(name string) {
	var seeds []string
	for _, n := range s.nodes {
		seeds = append(seeds, s.addr(n))
	}
	s.start(name, "node", "-name", name, "-bind", s.addr(name), "-join", strings.Join(seeds, ","),
		"-key-file", filepath.Join(s.dir, "key"), "-history", filepath.Join(s.dir, name+".jsonl"),
		"-store", s.storeAddr())
}

func (s *suite) pid(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[host].cmd.Process.Pid
}

// kill sends SIGKILL to host's process and waits until it is reaped.
func (s *suite) kill(host string) {
	p := s.stopping(host)
	s.mu.Lock()
	s.faults.Killed[p.cmd.Process.Pid] = time.Now()
	s.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate stops host's process gracefully (SIGTERM) and reaps it; it
// is killed if it has not stopped within 10 s.
func (s *suite) terminate(host string) {
	p := s.stopping(host)
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("%s did not stop within 10 s of SIGTERM", host)
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	s.mu.Lock()
	s.faults.Killed[p.cmd.Process.Pid] = p.at // gone: what it held ends here at the latest
	s.mu.Unlock()
}

// pause stops host's process for d (SIGSTOP, then SIGCONT).
func (s *suite) pause(host string, d time.Duration) {
	pid := s.pid(host)
	from := time.Now()
	syscall.Kill(pid, syscall.SIGSTOP)
	time.Sleep(d)
	syscall.Kill(pid, syscall.SIGCONT)
	s.mu.Lock()
	s.faults.Paused[pid] = append(s.faults.Paused[pid], realnet.Window{What: "SIGSTOP", From: from, To: time.Now()})
	s.mu.Unlock()
}

// stop ends every node gracefully (SIGTERM), waiting up to 10 s each,
// then the store.
func (s *suite) stopGracefully() {
	s.checkAlive()
	for _, host := range append(append([]string{}, s.nodes...), "store", realnet.Bridge) {
		s.terminate(host)
	}
}

// stopAll kills whatever still runs.
func (s *suite) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		p.expected = true
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

// canDial reports whether from's namespace opens a TCP connection to
// to's node port within timeout.
func (s *suite) canDial(from, to string, timeout time.Duration) bool {
	_, ok := s.dial(from, s.addr(to), timeout)
	return ok
}

// dial opens a TCP connection from from's namespace to addr and returns
// how long the handshake took, or false if it failed within timeout.
func (s *suite) dial(from, addr string, timeout time.Duration) (time.Duration, bool) {
	out, err := s.net.Command(from, s.bin, "dial", "-addr", addr, "-timeout", timeout.String()).Output()
	if err != nil {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(out)))
	return d, err == nil
}

// dumpLogs prints the end of every process's output (stderr and stdout).
func (s *suite) dumpLogs() {
	paths, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		s.t.Logf("%s, last lines:\n%s", filepath.Base(p), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
}
