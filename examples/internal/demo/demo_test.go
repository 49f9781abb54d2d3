package demo

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// In the tests the launcher starts the test binary itself as its nodes;
// with this variable set, it runs fakeNode instead of the tests.
const nodeEnv = "DEMO_TEST_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) != "" {
		fail := flag.String("fail", "", "a node that exits with an error")
		Main(nil, func(ctx context.Context, f Flags) error { return fakeNode(ctx, f, *fail) })
		return
	}
	os.Exit(m.Run())
}

// fakeNode prints what an example's node prints, without a cluster, then
// waits for Ctrl-C.
func fakeNode(ctx context.Context, f Flags, fail string) error {
	fmt.Printf("%s listening on %s\n", f.Name, f.Bind)
	if f.Join != "" {
		fmt.Printf("joined via %s\n", f.Join)
	}
	fmt.Printf("key %d bytes\n", len(f.Key))
	if f.Name == fail {
		return errors.New("asked to fail")
	}
	<-ctx.Done()
	fmt.Println("left")
	return nil
}

// launch runs a Launcher over fake nodes a, b and c, passing them args,
// and calls then(l) once all three are up. It returns what Run returned
// and the launcher's output.
func launch(t *testing.T, args []string, then func(l *Launcher)) (bool, string) {
	t.Setenv(nodeEnv, "1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	out := make(chan string)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		out <- b.String()
	}()
	l := &Launcher{Nodes: []string{"a", "b", "c"}, Args: func(string) []string { return args }}
	up := 0
	l.OnLine = func(node, text string) {
		if strings.HasPrefix(text, "key ") {
			if up++; up == 3 {
				then(l)
			}
		}
	}
	ok := l.Run()
	w.Close()
	return ok, <-out
}

func TestLauncher(t *testing.T) {
	ok, out := launch(t, nil, (*Launcher).Interrupt)
	if !ok {
		t.Errorf("Run = false, want true:\n%s", out)
	}
	seed := strings.TrimPrefix(lineOf(out, "a | a listening on "), "a | a listening on ")
	if seed == "" || lineOf(out, "a | joined") != "" {
		t.Errorf("a should listen on a free port and join nobody:\n%s", out)
	}
	for _, want := range []string{
		"a | key 32 bytes",
		"b | b listening on 127.0.0.1:0", "b | joined via " + seed,
		"c | c listening on 127.0.0.1:0", "c | joined via " + seed,
		"a | left", "b | left", "c | left",
	} {
		if lineOf(out, want) != want {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

func TestLauncherKillAndAfter(t *testing.T) {
	ok, out := launch(t, nil, func(l *Launcher) {
		stop := l.After(time.Millisecond, func() { l.Kill("a") })
		stop() // a lives
		l.After(10*time.Millisecond, func() {
			l.Kill("b")
			l.After(10*time.Millisecond, l.Interrupt)
		})
	})
	if !ok {
		t.Errorf("Run = false, want true: a killed node does not fail the demo:\n%s", out)
	}
	for _, want := range []string{"b exited: signal: killed", "a | left", "c | left"} {
		if lineOf(out, want) != want {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

func TestLauncherFailure(t *testing.T) {
	ok, out := launch(t, []string{"-fail", "c"}, func(l *Launcher) {
		l.After(100*time.Millisecond, l.Interrupt)
	})
	if ok {
		t.Errorf("Run = true with a failed node, want false:\n%s", out)
	}
	for _, want := range []string{"c | error: asked to fail", "c exited: exit status 1", "a | left", "b | left"} {
		if lineOf(out, want) != want {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

// lineOf returns the first line of out that begins with prefix.
func lineOf(out, prefix string) string {
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSuffix(l, "\n")
		}
	}
	return ""
}
