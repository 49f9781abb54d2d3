// Command failed reads `go test -json` events on standard input and
// prints the whole output of every test that failed, and of every
// package that failed outside a test (a build error, a panic, a timeout,
// a leak check in TestMain), so that a failure in CI always comes with
// its cause, however long the run. It exits 1 if anything failed.
//
//	go test -json ./... > test.json; go run .ci/failed.go < test.json
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	out := map[string]*strings.Builder{} // package + "\x00" + test
	var failed []string
	testFailed := map[string]bool{} // packages with a failed test
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // not an event: go's own message (a build error)
			continue
		}
		k := e.Package + "\x00" + e.Test
		switch e.Action {
		case "output", "build-output":
			if out[k] == nil {
				out[k] = &strings.Builder{}
			}
			out[k].WriteString(e.Output)
		case "fail", "build-fail":
			if e.Test != "" {
				testFailed[e.Package] = true
				failed = append(failed, k)
			} else if !testFailed[e.Package] {
				failed = append(failed, k)
			}
		case "pass", "skip":
			if e.Test != "" {
				delete(out, k) // bounded by what is running
			}
		}
	}
	for _, k := range failed {
		pkg, test, _ := strings.Cut(k, "\x00")
		fmt.Printf("==== FAIL %s %s\n", pkg, test)
		if test == "" {
			// The package failed outside a failed test: a panic or a
			// timeout reports under the tests that were running.
			for k2, b := range out {
				if p2, t2, _ := strings.Cut(k2, "\x00"); p2 == pkg && t2 != "" {
					fmt.Printf("---- output of %s, unfinished\n%s", t2, b.String())
				}
			}
		}
		if b := out[k]; b != nil {
			fmt.Print(b.String())
		}
	}
	if len(failed) > 0 {
		os.Exit(1)
	}
}
