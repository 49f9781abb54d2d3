package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/leakcheck"
)

// TestMain fails the run if goroutines outlive the tests (leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestUsageAndFlagErrors(t *testing.T) {
	t.Setenv(envJoin, "") // the lock and elect rows want no seeds from the environment
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
		{"unknown scenario", []string{"sim", "-scenario", "flood"}, 2, "", `unknown scenario "flood" (want one of partition, crash, pause, skew, loss, churn, rollout, scale, drift, outage, all`},
		{"scale past the size limit", []string{"sim", "-scenario", "scale", "-nodes", "150"}, 2, "", "-nodes is 150; the scale scenario grows the cluster to 1.5 times that, so want 3 to 133"},
		{"list", []string{"sim", "-list"}, 0, "  churn      nodes leave gracefully", ""},
		{"list scale", []string{"sim", "-list"}, 0, "  scale      the cluster grows by joins", ""},
		{"extra argument", []string{"sim", "now"}, 2, "", `unexpected argument "now"`},
		{"negative skew", []string{"sim", "-skew", "-1s"}, 2, "", "-skew is -1s; want 0 to 24h0m0s"},
		{"skew without unit", []string{"sim", "-skew", "5"}, 2, "", `invalid value "5" for flag -skew`},
		{"drift too fast", []string{"sim", "-drift", "250000"}, 2, "", "-drift is 250000 ppm; want 0 to 200000"},
		{"drift NaN", []string{"sim", "-drift", "NaN"}, 2, "", "-drift is NaN ppm; want 0 to 200000"},
		{"help agent", []string{"help", "agent"}, 0, "usage: gossipsync agent", ""},
		{"agent -h", []string{"agent", "-h"}, 0, "", "GET /v1/status"},
		{"agent bad profile", []string{"agent", "-profile", "moon"}, 2, "", `gossipsync agent: -profile: unknown profile "moon"`},
		{"agent extra argument", []string{"agent", "now"}, 2, "", `gossipsync agent: unexpected argument "now"`},
		{"agent missing key file", []string{"agent", "-key-file", "/nonexistent/key"}, 2, "", "gossipsync agent: -key-file: open /nonexistent/key"},
		{"help members", []string{"help", "members"}, 0, "usage: gossipsync members", ""},
		{"help status", []string{"help", "status"}, 0, "usage: gossipsync status", ""},
		{"status extra argument", []string{"status", "now"}, 2, "", `gossipsync status: unexpected argument "now"`},
		{"agent bad tag", []string{"agent", "-tag", "zone"}, 2, "", `invalid value "zone" for flag -tag: want key=value, not "zone"`},
		{"members unknown flag", []string{"members", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"help lock", []string{"help", "lock"}, 0, "usage: gossipsync lock", ""},
		{"lock without id", []string{"lock", "-join", "127.0.0.1:1"}, 2, "", "gossipsync lock: missing ID"},
		{"lock without command", []string{"lock", "-join", "127.0.0.1:1", "job", "--"}, 2, "", "gossipsync lock: missing the command to run after ID"},
		{"lock without seeds", []string{"lock", "job", "--", "true"}, 2, "", "gossipsync lock: no seed to join: give -join (or set GOSSIPSYNC_JOIN)"},
		{"lock no slots", []string{"lock", "-n", "0", "-join", "127.0.0.1:1", "job", "true"}, 2, "", "gossipsync lock: -n is 0; want at least 1"},
		{"lock with a data dir", []string{"lock", "-join", "127.0.0.1:1", "-data-dir", "/tmp/x", "job", "true"}, 2, "", "gossipsync lock: -data-dir: a member that never votes keeps no state"},
		{"help elect", []string{"help", "elect"}, 0, "usage: gossipsync elect", ""},
		{"elect without command", []string{"elect", "-join", "127.0.0.1:1", "jobs"}, 2, "", "gossipsync elect: missing the command to run after GROUP"},
		{"elect -listen with a command", []string{"elect", "-listen", "-join", "127.0.0.1:1", "jobs", "--", "true"}, 2, "", "gossipsync elect: -listen runs no command"},
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

// A bad -html path fails before the run, and takes the -json file along.
func TestSimHTMLBadPath(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	path := filepath.Join(dir, "no", "such", "dir", "t.html")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sim", "-json", jsonPath, "-html", path}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit status %d, want 2; stderr:\n%s", code, stderr.String())
	}
	if want := "gossipsync sim: -html: cannot create the page file: open " + path; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if _, err := os.Stat(jsonPath); !os.IsNotExist(err) {
		t.Errorf("the -json file of a run that did not happen is left behind: %v", err)
	}
}
