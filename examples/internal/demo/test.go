package demo

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RunLauncher is for an example's test. It builds the example in the
// current directory and runs it as a user would, with no flags, and
// returns its output. It skips t in -short mode, and fails it at once if
// the build fails or the launcher exits with an error.
func RunLauncher(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the example and runs three processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("the launcher failed: %v\n%s", err, out)
	}
	return string(out)
}
