package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests. serf and
// memberlist do not wait for an in-flight dial on Shutdown (serf's
// reconnect loop, for one, dials a crashed member with a 1 s timeout), so
// the check gives such goroutines a few seconds to end before it reports.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := waitNoLeaks(5 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks checks for leaked goroutines until there are none or d has
// passed, and returns the last finding.
func waitNoLeaks(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := goleak.Find() // itself retries for a moment
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

func TestUsageAndFlagErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no command", nil, 2, "", "usage: gossipsync <command>"},
		{"help", []string{"help"}, 0, "usage: gossipsync <command>", ""},
		{"help sim", []string{"help", "sim"}, 0, "usage: gossipsync sim", ""},
		{"sim -h", []string{"sim", "-h"}, 0, "", "usage: gossipsync sim"},
		{"unknown command", []string{"bogus"}, 2, "", `unknown command "bogus"`},
		{"help unknown", []string{"help", "bogus"}, 2, "", `unknown command "bogus"`},
		{"unknown flag", []string{"sim", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"bad value", []string{"sim", "-nodes", "many"}, 2, "", `invalid value "many" for flag -nodes`},
		{"too few nodes", []string{"sim", "-nodes", "2"}, 2, "", "-nodes is 2; want 3 to"},
		{"short duration", []string{"sim", "-duration", "1s"}, 2, "", "-duration is 1s; want at least 3s"},
		{"unknown fault", []string{"sim", "-faults", "partition,flood"}, 2, "", `unknown fault "flood"`},
		{"extra argument", []string{"sim", "now"}, 2, "", `unexpected argument "now"`},
		{"negative skew", []string{"sim", "-skew", "-1s"}, 2, "", "-skew is -1s; want 0 to 24h0m0s"},
		{"skew without unit", []string{"sim", "-skew", "5"}, 2, "", `invalid value "5" for flag -skew`},
		{"drift too fast", []string{"sim", "-drift", "1500"}, 2, "", "-drift is 1500 ppm; want 0 to 1000"},
		{"drift NaN", []string{"sim", "-drift", "NaN"}, 2, "", "-drift is NaN ppm; want 0 to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantCode == 2 && !strings.Contains(stderr.String(), "usage:") {
				t.Errorf("stderr = %q, want the usage after the error", stderr.String())
			}
		})
	}
}

func TestSimShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s of real time")
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	args := []string{"sim", "-nodes", "3", "-duration", "8s", "-seed", "3", "-faults", "partition,crash", "-json", jsonPath}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("output:\n%s", out)
	const replay = "replay: go run ./cmd/gossipsync sim -nodes 3 -duration 8s -seed 3 -faults partition,crash -skew 5s -drift 200\n"
	if n := strings.Count(out, replay); n != 2 {
		t.Errorf("output has %q %d times, want 2 (header and end)", replay, n)
	}
	if !strings.HasSuffix(out, "\nseed 3; the same seed gives the same fault schedule.\n"+replay) {
		t.Errorf("output does not end with the seed and the replay command")
	}
	checkJSONReport(t, jsonPath, replay)
	want := []string{
		"gossipsync sim: 3 nodes, duration 8s, seed 3, faults partition,crash",
		"phase      count converged   median      max",
		"crash detection",
		"failures detected",
		"false suspicions",
		"packets sent",
		"final convergence  OK in",
		`election in group "sim": leader n`,
		"E1 one leader per term  held\n",
		"E2 terms increase       held\n",
		"E3 leases disjoint      held\n",
		"E4 failover             median ",
		"physical clocks (skew ±5s, drift ±200ppm): n1 ",
		"clock: all 3 on reference n",
		"\nC1 intervals hold ",
		"\nC2 Now monotonic ",
		"\nC3 nodes agree ",
		"first sync         all 3 on reference n",
		"wall time",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if m := regexp.MustCompile(`election +group "sim": (\d+) leases`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("election section: %q; want at least one lease", m)
	}
	for _, re := range []string{
		`\nclock +reference group "gossipsync.clock": \d+ references?: n\d term \d`,
		`\nC1 intervals hold +held\n`,
		`\nC2 Now monotonic +held\n`,
		`\nC3 nodes agree +held, max disagreement `,
		`\n\|error\| +p50 [^\n]*, p99 `,
		`\nuncertainty +p50 [^\n]*, p99 `,
		`\nreadings +[1-9]\d* judged, \d+ unsynced, \d+ stale `,
		`\nfirst sync +all 3 on reference n\d term \d+, `,
		`\nfinal sync +`,
		`\nlocks +3 ids, 2 clients per node, TTL 1s, quorum mode: [1-9]\d* grants, `,
		`\nacquire latency +p50 [^\n]*, p99 `,
		`\nL1 unique tokens +held\n`,
		`\nL2 tokens increase +held\n`,
		`\nL3 holds disjoint +held\n`,
		`\nL4 grant after heal +median [^\n]*heals followed by a grant\)`,
		`\nfence +late writes of paused holders: \d+ rejected, 0 ACCEPTED`,
		`\nporcupine +linearizable`,
		`\ntasks +2 submitters per node, deadline 3s, attempt timeout 1s: [1-9]\d* submitted, [1-9]\d* done, `,
		`\ntask latency +p50 [^\n]*, p99 `,
		`\nT1 no task lost +held\n`,
		`\nT2 idempotency +held\n`,
		`\nT3 deadlines +held\n`,
		`\nschedule +every 500ms: [1-9]\d* ticks, [1-9]\d* run, \d+ missed, \d+ doubled`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("clock section lacks a line matching %q", re)
		}
	}
	// The phases, in order. The crash that the schedule aims at the
	// leader hits whichever node leads, and the names after it follow.
	schedule := buildSchedule(3, 8*time.Second, nodeNames(3), []fault{faultPartition, faultCrash})
	rest := out
	for _, p := range schedule {
		re := regexp.MustCompile(`\] ` + string(p.Fault) + ` [^\n]*(converged|interrupted)`)
		switch p.Target {
		case targetLeader:
			re = regexp.MustCompile(`\] crash n\d \(leader(, reference)?\) +converged in [^\n]*, new leader n\d in `)
		case targetReference:
			re = regexp.MustCompile(`\] crash n\d \((leader, )?reference\) +converged in [^\n]*, clocks on n\d in `)
		}
		loc := re.FindStringIndex(rest)
		if loc == nil {
			t.Errorf("output lacks a line matching %q after the earlier phases", re)
			break
		}
		rest = rest[loc[1]:]
	}
}

// checkJSONReport decodes the -json report at path and checks the key
// verdicts of a passing run.
func checkJSONReport(t *testing.T, path, replay string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type property struct{ ID, Verdict string }
	var rep struct {
		Replay     string
		OK         bool
		ExitStatus *int `json:"exit_status"`
		Problems   []string
		Config     struct{ Nodes int }
		Schedule   []struct {
			Fault     string
			Converged bool
			Took      string
		}
		Membership struct {
			FinalConverged bool `json:"final_converged"`
		}
		Election struct{ Properties []property }
		Clock    struct {
			Properties []property
			Error      struct{ P50, P99 string }
		}
		Locks struct {
			Properties   []property
			Grants       int
			Linearizable bool
		}
		Tasks struct{ Properties []property }
		Wall  string `json:"wall_time"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("-json output does not decode: %v\n%s", err, data)
	}
	if rep.Replay+"\n" != strings.TrimPrefix(replay, "replay: ") {
		t.Errorf("replay = %q, want %q", rep.Replay, replay)
	}
	if !rep.OK || rep.ExitStatus == nil || *rep.ExitStatus != 0 || len(rep.Problems) != 0 {
		t.Errorf("ok %v, exit status %v, problems %q; want true, 0, none", rep.OK, rep.ExitStatus, rep.Problems)
	}
	if rep.Config.Nodes != 3 || !rep.Membership.FinalConverged || len(rep.Schedule) == 0 || rep.Locks.Grants == 0 || !rep.Locks.Linearizable {
		t.Errorf("nodes %d, final converged %v, %d phases, %d grants, linearizable %v; want 3, true, some, some, true",
			rep.Config.Nodes, rep.Membership.FinalConverged, len(rep.Schedule), rep.Locks.Grants, rep.Locks.Linearizable)
	}
	for _, p := range rep.Schedule {
		if _, err := time.ParseDuration(p.Took); err != nil {
			t.Errorf("phase %s took %q: %v", p.Fault, p.Took, err)
		}
	}
	if _, err := time.ParseDuration(rep.Wall); err != nil {
		t.Errorf("wall_time %q: %v", rep.Wall, err)
	}
	var got []string
	for _, ps := range [][]property{rep.Election.Properties, rep.Clock.Properties, rep.Locks.Properties, rep.Tasks.Properties} {
		for _, p := range ps {
			got = append(got, p.ID+" "+p.Verdict)
		}
	}
	want := "E1 held,E2 held,E3 held,C1 held,C2 held,C3 held,C2' held,L1 held,L2 held,L3 held,T1 held,T2 held,T3 held"
	if strings.Join(got, ",") != want {
		t.Errorf("verdicts %q, want %q", strings.Join(got, ","), want)
	}
}

func TestSimBadJSONPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "r.json")
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code := run(context.Background(), []string{"sim", "-json", path}, &stdout, &stderr)
	if code != 2 {
		t.Errorf("exit status = %d, want 2", code)
	}
	if stdout.Len() > 0 || time.Since(began) > 5*time.Second {
		t.Errorf("the simulation started (took %v): stdout %q", time.Since(began), stdout.String())
	}
	if want := "gossipsync sim: -json: cannot create the report file: open " + path; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
	}
}

func TestSimStopsEarlyAndStillReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster for a few seconds of real time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel, as Ctrl-C does, once the first phase has been reported.
	out := &watchWriter{match: "converged in", onMatch: cancel}
	cfg := simConfig{Nodes: 3, Duration: time.Minute, Seed: 7, Faults: []fault{faultCrash}}
	rep, err := simulate(ctx, out, cfg)
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if !rep.Interrupted || len(rep.Phases) != 1 || !rep.OK() {
		t.Errorf("interrupted %v, %d phases, OK %v; want true, 1, true", rep.Interrupted, len(rep.Phases), rep.OK())
	}
	for _, w := range []string{"interrupted: 1 of the schedule's phases ran", "final: heal, loss off, restart ", "final convergence  OK"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// watchWriter collects what is written and calls onMatch once, when a
// write contains match. Safe for concurrent use.
type watchWriter struct {
	match   string
	onMatch func()

	mu      sync.Mutex // protects buf and matched
	buf     bytes.Buffer
	matched bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.matched && bytes.Contains(p, []byte(w.match)) {
		w.matched = true
		w.onMatch()
	}
	return w.buf.Write(p)
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
