package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/cluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKeyHex = "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f"

func TestSettingsFromEnv(t *testing.T) {
	base := map[string]string{
		"POD_NAME":        "demo-7d9c-abcde",
		"POD_IP":          "10.1.2.3",
		"GOSSIP_KEY_FILE": "/etc/gossipsync/key",
		"EXPECTED_SIZE":   "3",
		"SEEDS":           "dns+demo-gossip.default.svc.cluster.local.:7946",
	}
	files := map[string]string{"/etc/gossipsync/key": testKeyHex + "\n", "/short": "0011"}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	tests := []struct {
		name    string
		set     map[string]string // changes to base; "" unsets
		wantErr string            // "" = valid
	}{
		{"deployment.yaml's", nil, ""},
		{"one replica, no seeds", map[string]string{"EXPECTED_SIZE": "1", "SEEDS": ""}, ""},
		{"no name", map[string]string{"POD_NAME": ""}, "POD_NAME"},
		{"no IP", map[string]string{"POD_IP": ""}, "POD_IP"},
		{"no seeds", map[string]string{"SEEDS": " , "}, "SEEDS"},
		{"bad size", map[string]string{"EXPECTED_SIZE": "three"}, "EXPECTED_SIZE"},
		{"no key file", map[string]string{"GOSSIP_KEY_FILE": "/nope"}, "GOSSIP_KEY_FILE"},
		{"short key", map[string]string{"GOSSIP_KEY_FILE": "/short"}, "SecretKey"},
		{"bad profile", map[string]string{"GOSSIP_PROFILE": "fast"}, "GOSSIP_PROFILE"},
		{"bad bind", map[string]string{"GOSSIP_BIND": "7946"}, "GOSSIP_BIND"},
		{"IP that is no IP", map[string]string{"POD_IP": "pod"}, "AdvertiseAddr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			s, err := settingsFromEnv(func(k string) string { return env[k] }, readFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("settingsFromEnv = %v; want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("settingsFromEnv: %v", err)
			}
			if s.node.Name != env["POD_NAME"] || s.node.BindAddr != defaultBind || s.node.AdvertiseAddr != env["POD_IP"]+":7946" ||
				len(s.node.SecretKey) != 32 || s.node.Profile != cluster.LAN || s.http != ":8080" {
				t.Errorf("settings %+v", s)
			}
		})
	}
}

// TestThreePods builds the example and runs it as three pods would run,
// on loopback with the Local profile and plain seeds that name all three
// (each skips its own): they join, one leads, the lock is taken, and on
// SIGTERM each leaves gracefully and exits 0.
func TestThreePods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and runs three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(testKeyHex), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 3)
	out := &output{}
	var pods []*exec.Cmd
	for i, addr := range addrs {
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(os.Environ(),
			fmt.Sprintf("POD_NAME=pod-%d", i), "POD_IP=127.0.0.1", "GOSSIP_BIND="+addr,
			"GOSSIP_KEY_FILE="+keyFile, "EXPECTED_SIZE=3", "GOSSIP_PROFILE=local",
			"SEEDS="+strings.Join(addrs, ","), "HTTP_ADDR=127.0.0.1:0")
		out.attach(t, cmd, fmt.Sprintf("pod-%d", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, cmd)
	}
	defer func() {
		for _, p := range pods {
			p.Process.Kill()
		}
	}()
	for _, want := range []string{"joined", "leading, term", "holding " + lockID} {
		if !out.waitFor(60*time.Second, want) {
			t.Fatalf("no pod printed %q within 60 s:\n%s", want, out)
		}
	}
	for _, p := range pods {
		p.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range pods {
		if err := p.Wait(); err != nil {
			t.Errorf("pod-%d exited: %v", i, err)
		}
	}
	t.Logf("output:\n%s", out)
	for i := range pods {
		if want := fmt.Sprintf("pod-%d | left", i); !out.has(want) {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

// freeAddrs returns n loopback addresses with a free port each.
func freeAddrs(t *testing.T, n int) []string {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

// output collects the pods' output lines, each prefixed with its
// pod's name.
type output struct {
	mu    sync.Mutex // protects lines
	lines []string
}

// attach sends cmd's output to o, and its stderr (the node's logs) to
// a file that the test logs if it fails.
func (o *output) attach(t *testing.T, cmd *exec.Cmd, name string) {
	cmd.Stdout = &lineWriter{o: o, prefix: name + " | "}
	logs := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = f
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs)
			t.Logf("%s's logs:\n%s", name, b)
		}
	})
}

// lineWriter hands each line written to it to o.
type lineWriter struct {
	o      *output
	prefix string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := strings.Cut(string(w.buf), "\n")
		if !ok {
			return len(p), nil
		}
		w.o.mu.Lock()
		w.o.lines = append(w.o.lines, w.prefix+line)
		w.o.mu.Unlock()
		w.buf = []byte(rest)
	}
}

func (o *output) has(sub string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func (o *output) waitFor(d time.Duration, sub string) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(d); !o.has(sub); <-tick.C {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// deploymentEnv reads deployment.yaml's container env: the names with a
// literal value, and those filled by the Downward API.
func deploymentEnv(t *testing.T) (env map[string]string, replicas string) {
	t.Helper()
	b, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	var name string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "replicas:"); ok {
			replicas, _, _ = strings.Cut(strings.TrimSpace(v), " ")
		}
		if v, ok := strings.CutPrefix(line, "- name: "); ok {
			name = v
			env[name] = "(downward API)"
		}
		if v, ok := strings.CutPrefix(line, "value: "); ok && name != "" {
			env[name] = strings.Trim(v, `"`)
		}
	}
	return env, replicas
}

// nxResolver knows no name.
type nxResolver struct{}

func (nxResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (nxResolver) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// deployment.yaml gives the variables the program needs, EXPECTED_SIZE
// equal to replicas, and seeds that Join takes.
func TestDeploymentYAML(t *testing.T) {
	env, replicas := deploymentEnv(t)
	filled := map[string]string{"POD_NAME": "gossipsync-demo-7d9c-abcde", "POD_NAMESPACE": "default", "POD_IP": "10.1.2.3"}
	for k, v := range filled {
		if env[k] != "(downward API)" {
			t.Errorf("%s = %q in deployment.yaml, want it from the Downward API", k, env[k])
		}
		env[k] = v
	}
	for k, v := range env {
		for ref, val := range filled {
			v = strings.ReplaceAll(v, "$("+ref+")", val)
		}
		env[k] = v
	}
	readFile := func(name string) ([]byte, error) {
		if name != env["GOSSIP_KEY_FILE"] {
			return nil, fs.ErrNotExist
		}
		return []byte(testKeyHex), nil
	}
	s, err := settingsFromEnv(func(k string) string { return env[k] }, readFile)
	if err != nil {
		t.Fatalf("settings from deployment.yaml: %v", err)
	}
	if fmt.Sprint(s.node.ExpectedSize) != replicas {
		t.Errorf("EXPECTED_SIZE %d, replicas %s: want them equal", s.node.ExpectedSize, replicas)
	}
	if len(s.seeds) != 1 || !strings.HasPrefix(s.seeds[0], "dns+") {
		t.Errorf("seeds %q, want one dns+ seed", s.seeds)
	}
	node, err := cluster.New(cluster.Config{Name: "check", BindAddr: "127.0.0.1:0", Profile: cluster.Local, Resolver: nxResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := node.Join(ctx, s.seeds...); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("Join(%q) = %v; want it to look the name up until the deadline", s.seeds, err)
	}
}
