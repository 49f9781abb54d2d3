package main

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: three processes join, each lists all three, and all exit cleanly.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	lines := strings.Split(out, "\n")
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
