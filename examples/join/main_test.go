package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: three processes join, each lists all three, and all exit cleanly.
func TestLauncher(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and runs three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "join")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("the launcher failed: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	for _, node := range []string{"a", "b", "c"} {
		for _, want := range []string{"members: a b c", "left"} {
			if !slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, node+" | ") && strings.HasSuffix(l, want)
			}) {
				t.Errorf("no line from %s ends in %q:\n%s", node, want, out)
			}
		}
	}
}
