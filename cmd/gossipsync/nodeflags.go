package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// nodeFlags are the flags of a command that runs a node (agent; lock
// and elect as short-lived members): they make a cluster.Config, and
// open creates the node and joins the cluster.
type nodeFlags struct {
	name      string   // -name: the node's name, unique in the cluster
	bind      string   // -bind: the ip:port of gossip and RPC, UDP and TCP
	advertise string   // -advertise: the ip:port others reach this node at
	join      seedList // -join: seeds, repeatable or comma-separated
	keyFile   string   // -key-file: the cluster's secret key (see readKeyFile)
	expect    int      // -expect: cluster.Config.ExpectedSize
	voters    int      // -voters: cluster.Config.Voters
	dataDir   string   // -data-dir: cluster.Config.DataDir
	profile   string   // -profile: lan, wan or local
	logLevel  string   // -log-level: debug, info, warn or error
	tags      tagList  // -tag: user tags, key=value, repeatable
	// nonVoter sets cluster.Config.NonVoter: not a flag; the commands
	// that join as short-lived members set it.
	nonVoter bool
	// logTo receives the node's logs (not a flag; nil = none): the
	// command's stderr.
	logTo io.Writer
	// joinRetry bounds each Join while no seed answers (see joinSeeds);
	// 0 = 2 s.
	joinRetry time.Duration
}

// seedList is the -join flag: repeatable, each value comma-separated.
type seedList []string

func (s *seedList) String() string { return strings.Join(*s, ",") }

func (s *seedList) Set(v string) error {
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*s = append(*s, a)
		}
	}
	return nil
}

// tagList is the -tag flag: key=value, repeatable.
type tagList map[string]string

func (t *tagList) String() string {
	var parts []string
	for k, v := range *t {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (t *tagList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, not %q", v)
	}
	if *t == nil {
		*t = tagList{}
	}
	(*t)[k] = val
	return nil
}

// register defines the flags on fs.
func (f *nodeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "the node's `name`, unique in the cluster (default: the host name and a random suffix)")
	fs.StringVar(&f.bind, "bind", "0.0.0.0:7946", "the `ip:port` to gossip and serve RPC on, UDP and TCP (port 0: any free port)")
	fs.StringVar(&f.advertise, "advertise", "", "the `ip:port` other nodes reach this one at (default: -bind's, or a private IP of this host when -bind's IP is 0.0.0.0)")
	fs.Var(&f.join, "join", "`ip:port` of a member to join through; repeatable or comma-separated; this node's own address may be listed (default: none, start a new cluster)")
	fs.StringVar(&f.keyFile, "key-file", "", "`file` holding the cluster's secret key: 16, 24 or 32 bytes, as hex or base64 text or raw (default: none, an open cluster)")
	fs.IntVar(&f.expect, "expect", 0, "the number of voting nodes the cluster is expected to have: the quorum basis, and the voters form only once that many run (0: the largest membership seen)")
	fs.IntVar(&f.voters, "voters", 0, fmt.Sprintf("the size of the voter set, odd (0: %d)", cluster.DefaultVoters))
	fs.StringVar(&f.dataDir, "data-dir", "", "`dir`ectory where the node keeps its voter state across restarts (default: memory only)")
	fs.StringVar(&f.profile, "profile", "lan", "failure-detection timing: lan, wan or local (one host)")
	fs.Var(&f.tags, "tag", "a `key=value` tag gossiped to every member (shown by status and /ui); repeatable")
	fs.StringVar(&f.logLevel, "log-level", "warn", "the least `level` of the node's logs printed to stderr: debug, info, warn or error")
}

// config returns the node's configuration, logging to logTo.
func (f *nodeFlags) config() (cluster.Config, error) {
	cfg := cluster.Config{Name: f.name, BindAddr: f.bind, AdvertiseAddr: f.advertise, ExpectedSize: f.expect,
		Voters: f.voters, DataDir: f.dataDir, NonVoter: f.nonVoter, Tags: f.tags}
	var err error
	if cfg.Profile, err = cluster.ParseProfile(f.profile); err != nil {
		return cfg, fmt.Errorf("-profile: unknown profile %q (want lan, wan or local)", f.profile)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, fmt.Errorf("-log-level: unknown level %q (want debug, info, warn or error)", f.logLevel)
	}
	if f.logTo != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(f.logTo, &slog.HandlerOptions{Level: level}))
	}
	if f.keyFile != "" {
		if cfg.SecretKey, err = readKeyFile(f.keyFile); err != nil {
			return cfg, fmt.Errorf("-key-file: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// readKeyFile reads the cluster's secret key from path. The file holds
// the key as hex or standard base64 text (surrounding white space is
// ignored), or as the raw bytes; the text forms are tried first, so a
// raw key that happens to read as hex or base64 of a valid length is
// taken as text. Whatever the form, the key is 16, 24 or 32 bytes.
// Make one with: head -c 32 /dev/urandom | base64 > key.
func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(bytes.TrimSpace(data))
	if k, err := hex.DecodeString(text); err == nil && validKey(k) {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(text); err == nil && validKey(k) {
		return k, nil
	}
	if validKey(data) {
		return data, nil
	}
	return nil, fmt.Errorf("%s holds %d bytes, not a key: want 16, 24 or 32 bytes, as hex or base64 text or raw", path, len(data))
}

func validKey(k []byte) bool { return len(k) == 16 || len(k) == 24 || len(k) == 32 }

// create makes the node without joining.
func (f *nodeFlags) create() (*cluster.Node, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return cluster.New(cfg)
}

// open creates the node and joins the seeds of -join (see join). On a
// failure to join it closes the node.
func (f *nodeFlags) open(ctx context.Context) (*cluster.Node, error) {
	n, err := f.create()
	if err != nil {
		return nil, err
	}
	if err := f.joinSeeds(ctx, n, nil); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// joinSeeds joins n through the seeds of -join; without seeds it does
// nothing (n starts a cluster). cluster.Node.Join itself waits while no
// seed answers (looking DNS seeds up again each time, with backoff);
// joinSeeds bounds each Join to joinRetry, so that failed hears why the
// last try failed while the nodes wait for each other, and joins again
// until ctx ends. A wrong key, a name in use or a malformed seed cannot
// get better: it returns those at once.
func (f *nodeFlags) joinSeeds(ctx context.Context, n *cluster.Node, failed func(error)) error {
	if len(f.join) == 0 {
		return nil
	}
	retry := f.joinRetry
	if retry == 0 {
		retry = 2 * time.Second
	}
	for {
		actx, cancel := context.WithTimeout(ctx, retry)
		_, err := n.Join(actx, f.join...)
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, cluster.ErrAuth) || errors.Is(err, cluster.ErrDuplicateName) ||
			errors.Is(err, cluster.ErrClosed) || errors.Is(err, cluster.ErrBadSeed):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("join %s: %w (last: %v)", f.join.String(), ctx.Err(), err)
		}
		if failed != nil {
			failed(err)
		}
	}
}
