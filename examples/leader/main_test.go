package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: a leader is elected, killed, and another node takes over with a
// higher term; the launcher exits 0.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	leaders := leaderLines(out)
	if len(leaders) < 2 {
		t.Fatalf("got %d leaders %v, want at least 2:\n%s", len(leaders), leaders, out)
	}
	for i := 1; i < len(leaders); i++ {
		if leaders[i].term <= leaders[i-1].term {
			t.Errorf("leader %d: %v after %v, want a higher term", i, leaders[i], leaders[i-1])
		}
	}
	// A higher-ranked node that starts late may take over from the first
	// leader before the kill (bully order): compare with the node killed.
	last := leaders[len(leaders)-1]
	_, rest, _ := strings.Cut(out, "launcher: killing ")
	killed, _, _ := strings.Cut(rest, ",")
	if killed == "" || killed == last.node {
		t.Errorf("leaders %v, killed %q: want another node to take over", leaders, killed)
	}
	if !strings.Contains(out, "launcher: "+last.node+" took over") {
		t.Errorf("the launcher did not report %s taking over:\n%s", last.node, out)
	}
}

type leadership struct {
	node string
	term uint64
}

// leaderLines returns every "<node> | leading, term N" line in order.
func leaderLines(out string) []leadership {
	var got []leadership
	for l := range strings.Lines(out) {
		node, text, ok := strings.Cut(strings.TrimSpace(l), " | ")
		if !ok {
			continue
		}
		if term, ok := leading(text); ok {
			got = append(got, leadership{node, term})
		}
	}
	return got
}

func TestLeading(t *testing.T) {
	tests := []struct {
		name, text string
		want       uint64
		wantOK     bool
	}{
		{"leading", "leading, term 7", 7, true},
		{"tick", "tick 1, term 7", 0, false},
		{"following", "following c, term 7", 0, false},
		{"bad number", "leading, term x", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := leading(tt.text)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("leading(%q) = %d, %v; want %d, %v", tt.text, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
