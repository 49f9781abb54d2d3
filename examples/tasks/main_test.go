package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: the batch runs on both workers, the two Runs with one ID share
// one execution, the worker of the slow task is killed and the task runs
// again on the other; the launcher exits 0.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	ran := map[string]int{}
	for _, l := range lines(out, "a") {
		if strings.HasPrefix(l, "img-") {
			ran[worker([]byte(l))]++
		}
	}
	if ran["b"]+ran["c"] != 20 || ran["b"] == 0 || ran["c"] == 0 {
		t.Errorf("batch ran on %v, want 20 tasks on both b and c:\n%s", ran, out)
	}
	if got := count(out, "resizing avatar.jpg"); got != 1 {
		t.Errorf("avatar.jpg (one ID, two Runs) ran %d times, want 1:\n%s", got, out)
	}
	if !strings.Contains(out, "a | one execution, shared result") {
		t.Errorf("the two Runs with one ID did not share a result:\n%s", out)
	}
	killed, _, ok := strings.Cut(after(out, "launcher: killing "), ",")
	if !ok {
		t.Fatalf("the launcher killed nobody:\n%s", out)
	}
	res := after(out, "a | big.jpg resized by ")
	if res == "" || strings.HasPrefix(res, killed+" ") {
		t.Errorf("big.jpg resized by %q, want the worker that was not killed (%s):\n%s", res, killed, out)
	}
	if got := count(out, "resizing big.jpg"); got != 2 {
		t.Errorf("big.jpg started %d times, want 2 (at-least-once):\n%s", got, out)
	}
}

// lines returns the text of node's lines, "<node> | <text>", in order.
func lines(out, node string) []string {
	var got []string
	for l := range strings.Lines(out) {
		if text, ok := strings.CutPrefix(strings.TrimSpace(l), node+" | "); ok {
			got = append(got, text)
		}
	}
	return got
}

// count returns how many lines of any node, "<node> | <text>", are text.
func count(out, text string) int {
	n := 0
	for l := range strings.Lines(out) {
		if _, t, ok := strings.Cut(strings.TrimSpace(l), " | "); ok && t == text {
			n++
		}
	}
	return n
}

// after returns what follows prefix on the first line with it.
func after(out, prefix string) string {
	for l := range strings.Lines(out) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			return s
		}
	}
	return ""
}

func TestWorker(t *testing.T) {
	tests := []struct{ name, res, want string }{
		{"result", "img-01.jpg resized by b (its run 3)", "b"},
		{"no run", "big.jpg resized by c", "c"},
		{"other", "nothing", ""},
	}
	for _, tt := range tests {
		if got := worker([]byte(tt.res)); got != tt.want {
			t.Errorf("%s: worker(%q) = %q, want %q", tt.name, tt.res, got, tt.want)
		}
	}
}
