package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: the nodes take the lock in turn, a holder is killed, and another
// node holds it with a higher token; the launcher exits 0.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	grants := grantLines(out)
	for i := 1; i < len(grants); i++ {
		if grants[i].token <= grants[i-1].token {
			t.Errorf("grant %d: %v after %v, want a higher token", i, grants[i], grants[i-1])
		}
	}
	killed, _, ok := strings.Cut(afterPrefix(out, "launcher: killing "), ",")
	if !ok {
		t.Fatalf("the launcher killed nobody:\n%s", out)
	}
	if !strings.Contains(out, " holds the lock with token ") {
		t.Errorf("the launcher did not report a takeover:\n%s", out)
	}
	if last := grants[len(grants)-1]; last.node == killed {
		t.Errorf("last grant %v went to the killed node", last)
	}
}

type grant struct {
	node  string
	token uint64
}

// grantLines returns every "<node> | holding, token N" line in order.
func grantLines(out string) []grant {
	var got []grant
	for l := range strings.Lines(out) {
		node, text, ok := strings.Cut(strings.TrimSpace(l), " | ")
		if !ok {
			continue
		}
		if tok, ok := parsed(text, "holding, token "); ok {
			got = append(got, grant{node, tok})
		}
	}
	return got
}

// afterPrefix returns what follows prefix on the first line with it.
func afterPrefix(out, prefix string) string {
	for l := range strings.Lines(out) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			return s
		}
	}
	return ""
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		token      uint64
		node       string
	}{
		{"line", "token 12 by b", 12, "b"},
		{"no by", "token 12", 0, ""},
		{"not a number", "token x by b", 0, ""},
		{"empty", "", 0, ""},
	}
	for _, tt := range tests {
		token, node := parseLine(tt.line)
		if token != tt.token || node != tt.node {
			t.Errorf("%s: parseLine(%q) = %d, %q; want %d, %q", tt.name, tt.line, token, node, tt.token, tt.node)
		}
	}
}

func TestAppendFenced(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shared.txt")
	tests := []struct {
		name    string
		token   uint64
		wantErr bool
	}{
		{"first", 3, false},
		{"same holder again", 3, false},
		{"higher", 5, false},
		{"lower", 4, true},
		{"higher still", 9, false},
	}
	for _, tt := range tests {
		err := appendFenced(file, tt.token, fmt.Sprintf("token %d by x", tt.token))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: appendFenced(token %d) = %v, want error %v", tt.name, tt.token, err, tt.wantErr)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "token 3 by x\ntoken 3 by x\ntoken 5 by x\ntoken 9 by x\n"
	if got := string(data); got != want {
		t.Errorf("file = %q, want %q", got, want)
	}
}
