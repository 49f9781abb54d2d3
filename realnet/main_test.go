package realnet_test

import (
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/gossipsync/gossipsync/realnet"
)

// nsPrefix names every namespace the suite makes.
const nsPrefix = "gsrt"

// TestMain tears the namespaces down when the test binary is
// interrupted (SIGINT, SIGTERM), where test cleanups do not run; the
// processes die with it on their own (Pdeathsig).
func TestMain(m *testing.M) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		realnet.CleanStale(nsPrefix)
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	os.Exit(m.Run())
}
