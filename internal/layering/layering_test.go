// Package layering holds a test that keeps the dependency direction of
// DESIGN.md: cluster <- voters <- election <- clock <- lockmgr, cluster <-
// taskpool, voters and clock <- events, every primitive <- metrics (the
// only library package that imports Prometheus) <- the command line,
// leaf packages under internal/ importing nothing above them, and nothing
// but the command line, the real-process suite (realnet), the examples
// (examples/bank chaos-tests a workload of its own) and tests importing
// sim.
package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gossipsync/gossipsync/"

// allowed lists, per top-level folder, the module folders its non-test
// code may import. internal/ is open to all.
var allowed = map[string][]string{
	"internal": {},
	"cluster":  {},
	"voters":   {"cluster"},
	"election": {"cluster", "voters"},
	"clock":    {"cluster", "voters", "election"},
	"lockmgr":  {"cluster", "voters", "election", "clock"},
	"taskpool": {"cluster", "voters", "election"},
	"events":   {"cluster", "voters", "clock"},
	// Prometheus metrics of a node and its primitives, read through
	// their Stats.
	"metrics":  {"cluster", "voters", "election", "clock", "lockmgr", "taskpool", "events"},
	"sim":      {"cluster", "voters", "election", "clock", "lockmgr", "taskpool", "events"},
	"cmd":      {"cluster", "voters", "election", "clock", "lockmgr", "taskpool", "events", "metrics", "sim"},
	"examples": {"cluster", "voters", "election", "clock", "lockmgr", "taskpool", "events", "sim"},
	// CI's own tools (.ci/failed.go): the standard library only.
	".ci": {},
	// The real-process fault suite: a test harness like cmd's sim.
	"realnet": {"cluster", "voters", "election", "clock", "lockmgr", "taskpool", "events", "sim", "realnet"},
}

// monitored lists the folders whose non-test code may import a
// monitoring system (Prometheus, go-metrics' sinks): the metrics package,
// so that a program that does not ask for metrics pays nothing for them,
// and the command line, whose agent serves them. memberlist and serf
// import go-metrics itself, not a sink.
var monitored = []string{"metrics", "cmd"}

func monitoring(path string) bool {
	return strings.HasPrefix(path, "github.com/prometheus/") || strings.HasPrefix(path, "github.com/hashicorp/go-metrics")
}

func TestLayering(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != root {
			if _, statErr := os.Stat(filepath.Join(path, "go.mod")); statErr == nil {
				return filepath.SkipDir // a module of its own (bench): outside the library
			}
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		ok, known := allowed[top]
		if !known {
			t.Errorf("%s: folder %q is not in the layering table", rel, top)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pure := strings.HasPrefix(filepath.ToSlash(rel), "sim/check/")
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if pure && (strings.HasPrefix(p, module) || p == "net" || strings.HasPrefix(p, "net/")) {
				t.Errorf("%s imports %s: the checkers (sim/check) judge records and import no networking nor the library", rel, p)
			}
			if monitoring(p) && !slices.Contains(monitored, top) {
				t.Errorf("%s imports %s: only package metrics imports a monitoring system; the others keep Stats", rel, p)
			}
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.Split(strings.TrimPrefix(p, module), "/")[0]
			if dep != "internal" && dep != top && !slices.Contains(ok, dep) {
				t.Errorf("%s imports %s: %s may not depend on %s", rel, p, top, dep)
			}
			if top == "internal" && dep != "internal" {
				t.Errorf("%s imports %s: leaf packages import nothing above them", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
