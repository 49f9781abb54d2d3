// Command bench measures gossipsync side by side with etcd, Redis, asynq
// and NATS JetStream on one machine, in one run, and prints one markdown
// table.
//
//	cd bench && go run .                 # every row, about three minutes on 2 cores
//	go run . -only contended             # one row
//	go run . -list                       # the rows and what each measures
//	go run . -json figures.json          # also write the raw figures
//
// Every peer runs on this machine, on loopback, with its data under a
// temporary directory that the program removes: etcd embedded in this
// process (1 member and 3 members), NATS JetStream embedded in this
// process (3 servers), Redis as a child process (redis-server from PATH;
// without it the Redis, Redis Streams and asynq lines say
// "skipped: redis-server not found"), and gossipsync as 3 nodes on real
// loopback sockets; the idle row runs gossipsync alone in child
// processes of this program (1 node, then 50). Within a row the systems run alternately, in short
// slices, so that drift of the machine hits all of them; the table gives
// ratios, which travel between machines better than absolute times.
//
// This is its own Go module, so that the library never depends on etcd,
// NATS or Redis.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	slice    time.Duration // each system's run time in one round of a row
	rounds   int           // alternating rounds per row
	warmup   time.Duration // each system's unrecorded run before the rounds
	only     string        // run only this row
	jsonPath string        // write raw figures here
	list     bool          // name the rows and exit
	cpuprof  string        // write a CPU profile of the rows here
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the rows and prints the table. It returns the
// exit status: 0, 1 when the run failed, 2 for bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == idleChildFlag {
		return runIdleChild(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errPrinted):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "bench: %v\nRun 'go run . -h' for usage.\n", err)
		return 2
	}
	if cfg.list {
		listRows(stdout)
		return 0
	}
	todo := allRows()
	if cfg.only != "" {
		todo = []row{findRow(cfg.only)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second interrupt kills at once
	env, err := newEnv(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if cfg.cpuprof != "" {
		stopProfile, err := startProfile(cfg.cpuprof)
		if err != nil {
			env.close()
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	began := time.Now()
	rep := report{Machine: thisMachine(), Command: commandLine(args)}
	for _, r := range todo {
		if ctx.Err() != nil {
			break
		}
		rep.Results = append(rep.Results, measureRow(ctx, env, r, cfg, stderr)...)
	}
	env.close()
	rep.Wall = time.Since(began).Round(time.Second).String()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted")
		return 1
	}
	printTable(stdout, rep)
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	return 0
}

// parseFlags reads the command line. Errors are usage errors.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.slice, "slice", time.Second, "how long each system runs in one round of a row")
	fs.IntVar(&cfg.rounds, "rounds", 3, "alternating rounds per row (the failover row: crashes per system, at least 4)")
	fs.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "unrecorded run of each system before a row's rounds")
	fs.StringVar(&cfg.only, "only", "", "run only the row `NAME` (see -list)")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the raw figures to `FILE` as JSON")
	fs.BoolVar(&cfg.list, "list", false, "name the rows and what each measures, then exit")
	fs.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run (every system: this process hosts all but Redis; samples carry the labels row and system, e.g. go tool pprof -tagfocus system=gossipsync) to `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run . [flags]\n\n"+
			"Measures gossipsync beside etcd (embedded, 1 and 3 members), NATS JetStream\n"+
			"(embedded, 3 servers), Redis, Redis Streams and asynq (redis-server from PATH)\n"+
			"on loopback, and prints one markdown table.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nRows: %s\n", strings.Join(rowNames(), ", "))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errPrinted // the flag package printed it, and the usage
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.slice <= 0:
		return cfg, fmt.Errorf("-slice %v: want a positive duration", cfg.slice)
	case cfg.rounds < 1:
		return cfg, fmt.Errorf("-rounds %d: want at least 1", cfg.rounds)
	case cfg.warmup < 0:
		return cfg, fmt.Errorf("-warmup %v: want 0 or more", cfg.warmup)
	case cfg.only != "" && !hasRow(cfg.only):
		return cfg, fmt.Errorf("-only %q: no such row; rows: %s", cfg.only, strings.Join(rowNames(), ", "))
	}
	return cfg, nil
}

// errPrinted is a usage error that has already been printed.
var errPrinted = errors.New("usage error, printed")

// machine describes where the figures were measured.
type machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Date      string `json:"date"`
}

func thisMachine() machine {
	return machine{
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Date:      time.Now().UTC().Format(time.DateOnly),
	}
}

func commandLine(args []string) string {
	return strings.TrimSpace("go run . " + strings.Join(args, " "))
}

// report is everything one run measured; -json writes it as is.
type report struct {
	Machine machine  `json:"machine"`
	Command string   `json:"command"`
	Wall    string   `json:"wall_time"`
	Results []result `json:"results"`
}

// startProfile starts a CPU profile into path and returns its stop.
func startProfile(path string) (func(), error) {
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

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
