package simtest

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// logEnv names the environment variable that turns on the nodes' logs
// in tests: "debug" or "info". The lines are kept in memory and printed
// only when the test fails, so a rare failure can be read after the
// fact without flooding every passing run.
const logEnv = "GOSSIPSYNC_TESTLOG"

// testLogger returns a logger whose lines t prints if it fails, or nil
// when logEnv is unset.
func testLogger(t testing.TB) *slog.Logger {
	var level slog.Level
	switch os.Getenv(logEnv) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	default:
		return nil
	}
	b := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
