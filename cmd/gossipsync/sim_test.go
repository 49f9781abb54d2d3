package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The command end to end, in a synctest bubble: the partition scenario
// with the locks out of quorum mode breaks L1-L3, so the exit status is
// 1, stderr names the broken properties, stdout has the progress and
// the table, and the -json and -html files are written.
func TestSimCommandUnsafe(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "t.html")
	var code int
	var stdout, stderr bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		code = run(context.Background(), []string{"sim", "-scenario", "partition", "-duration", "6s", "-seed", "3", "-unsafe",
			"-json", jsonPath, "-html", htmlPath}, &stdout, &stderr)
		time.Sleep(10 * time.Second) // memberlist's and serf's goroutines end after Shutdown
	})
	if code != 1 {
		t.Errorf("exit status %d, want 1\nstderr:\n%s", code, stderr.String())
	}
	for _, w := range []string{"gossipsync sim: scenario partition, 5 nodes", "replay: go run ./cmd/gossipsync sim -scenario partition", "UNSAFE mode", "final convergence"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "gossipsync sim: property L") {
		t.Errorf("stderr lacks a broken lock property:\n%s", stderr.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK         bool
		ExitStatus int `json:"exit_status"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.OK || rep.ExitStatus != 1 {
		t.Errorf("-json: %+v, %v; want ok false, exit status 1", rep, err)
	}
	if page, err := os.ReadFile(htmlPath); err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("-html: %d bytes, %v; want a page with its chart", len(page), err)
	}
}
