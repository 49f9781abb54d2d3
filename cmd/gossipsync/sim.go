package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/gossipsync/gossipsync/sim/chaos"
)

// runSim is the sim command.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseSimFlags(args, stderr)
	if errors.Is(err, errList) {
		chaos.ListScenarios(stdout)
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "gossipsync sim: -cpuprofile: %v\n", err)
			discardOutputs(cfg)
			return 2
		}
		defer stop()
	}
	rep, err := chaos.Simulate(ctx, stdout, cfg.opts)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync sim: %v\n", err)
		discardOutputs(cfg)
		return 1
	}
	status := exitStatus(rep, stderr)
	if cfg.jsonOut != nil {
		err := rep.WriteJSON(cfg.jsonOut)
		if cerr := cfg.jsonOut.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(stderr, "gossipsync sim: writing -json: %v\n", err)
			return 1
		}
	}
	return saveHTML(cfg, rep, status, stderr)
}

// discardOutputs removes the -json and -html files created for a run
// that did not happen.
func discardOutputs(cfg simConfig) {
	if cfg.jsonOut != nil {
		cfg.jsonOut.Close()
		os.Remove(cfg.JSON)
	}
	discardHTML(cfg)
}

// exitStatus prints to stderr why the run failed, if it did, and returns
// the exit status: 1 then, else 0.
func exitStatus(rep *chaos.Report, stderr io.Writer) int {
	for _, p := range rep.Problems {
		fmt.Fprintf(stderr, "gossipsync sim: %s\n", p)
	}
	return rep.Status()
}

// startCPUProfile starts a CPU profile into path; stop ends it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// openHTML creates the -html file now, so that a bad path fails before
// the run.
func openHTML(cfg *simConfig) error {
	if cfg.HTML == "" {
		return nil
	}
	var err error
	if cfg.htmlOut, err = os.Create(cfg.HTML); err != nil {
		if cfg.jsonOut != nil { // the run will not happen
			cfg.jsonOut.Close()
			os.Remove(cfg.JSON)
			cfg.jsonOut = nil
		}
		return fmt.Errorf("-html: cannot create the page file: %v", err)
	}
	return nil
}

// discardHTML closes and removes the -html file of a run that did not
// happen.
func discardHTML(cfg simConfig) {
	if cfg.htmlOut != nil {
		cfg.htmlOut.Close()
		os.Remove(cfg.HTML)
	}
}

// saveHTML writes the page of rep to the -html file, if asked for, and
// returns status, or 1 if it could not.
func saveHTML(cfg simConfig, rep *chaos.Report, status int, stderr io.Writer) int {
	if cfg.htmlOut == nil {
		return status
	}
	err := rep.WriteHTML(cfg.htmlOut)
	if cerr := cfg.htmlOut.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync sim: writing -html: %v\n", err)
		return 1
	}
	return status
}
