package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// killAfter is how many grants the launcher watches before it kills the
// next holder, right after its write; stopAfter is how many grants after
// the takeover it lets happen before it stops everyone.
const (
	killAfter = 3
	stopAfter = 2
)

// launch runs nodes a, b and c as child processes of this program, b and
// c joining a, all with a cluster size of 3 and writing to a new file in
// os.TempDir, and relays their output. Once killAfter grants went by it
// kills the next holder as soon as it has written, as a crash would; once
// another node holds the lock with a higher token and a few more grants
// went by, it interrupts the rest, as Ctrl-C would, so that they release
// and leave. It prints the file and reports whether another node took
// over, the file's tokens strictly increase and every other child exited
// cleanly within 30 s.
func launch() bool {
	f, err := os.CreateTemp("", "gossipsync-lock-demo-*.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return false
	}
	f.Close()
	defer os.Remove(f.Name())
	fmt.Println("launcher: the nodes write to", f.Name())
	l := &demo.Launcher{
		Nodes: []string{"a", "b", "c"},
		Args:  func(string) []string { return []string{"-file", f.Name(), "-size", "3"} },
	}
	s := &script{l: l}
	l.OnLine = s.onLine
	ok := l.Run() && !s.tookOver.IsZero()
	return checkFile(f.Name()) && ok
}

// script is the launcher's script: kill a holder, watch the takeover.
type script struct {
	l      *demo.Launcher
	grants int // "holding" lines seen

	killed      string    // the holder that was killed
	killedToken uint64    // its token
	killedAt    time.Time // when
	tookOver    time.Time // when another node said it holds the lock
	afterTake   int       // grants since the takeover
	stopping    bool      // the others were interrupted
}

// onLine reacts to a line from a node.
func (s *script) onLine(node, text string) {
	if _, ok := parsed(text, "holding, token "); ok {
		s.grants++
	}
	switch {
	case s.killed == "":
		if tok, ok := parsed(text, "wrote \"token "); ok && s.grants > killAfter {
			s.killed, s.killedToken = node, tok
			fmt.Printf("launcher: killing %s, the holder of token %d\n", s.killed, s.killedToken)
			s.l.Kill(s.killed)
			s.killedAt = time.Now()
		}
	case s.tookOver.IsZero():
		if tok, ok := parsed(text, "holding, token "); ok && tok > s.killedToken {
			s.tookOver = time.Now()
			fmt.Printf("launcher: %s holds the lock with token %d, %v after %s was killed\n",
				node, tok, s.tookOver.Sub(s.killedAt).Round(time.Millisecond), s.killed)
		}
	case !s.stopping:
		if _, ok := parsed(text, "holding, token "); ok {
			s.afterTake++
		}
		if s.afterTake >= stopAfter {
			s.stopping = true
			fmt.Println("launcher: interrupting the others")
			s.l.Interrupt()
		}
	}
}

// parsed returns the number that follows prefix in text.
func parsed(text, prefix string) (uint64, bool) {
	s, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return 0, false
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// checkFile prints the shared file and reports whether its tokens
// strictly increase.
func checkFile(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Println("launcher:", err)
		return false
	}
	fmt.Println("launcher: the file:")
	var last uint64
	ok := true
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSpace(l)
		fmt.Println("  " + l)
		tok, _ := parseLine(l)
		if tok <= last {
			fmt.Printf("launcher: token %d after %d\n", tok, last)
			ok = false
		}
		last = tok
	}
	return ok
}
