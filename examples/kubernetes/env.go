package main

import (
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gossipsync/gossipsync/cluster"
)

// settings is what a pod's environment says: the node's Config, the
// seeds to join and the address of the readiness endpoint.
type settings struct {
	node  cluster.Config
	seeds []string
	http  string
}

// The environment variables (deployment.yaml sets them):
//
//	POD_NAME         the node's name: the pod's (Downward API metadata.name); required
//	POD_IP           the IP the others reach this pod at (status.podIP); required
//	GOSSIP_KEY_FILE  a file holding the cluster's key in hex (a Secret mounted as files); required
//	EXPECTED_SIZE    the number of replicas: the quorum basis; required
//	SEEDS            comma-separated seeds, e.g. dns+<headless service>:7946; required unless EXPECTED_SIZE is 1
//	GOSSIP_BIND      the ip:port gossip and RPC listen on; default 0.0.0.0:7946
//	GOSSIP_PROFILE   lan (default), wan or local
//	HTTP_ADDR        the readiness endpoint's address; default :8080
const defaultBind = "0.0.0.0:7946"

// settingsFromEnv reads the settings with getenv, and the key with
// readFile. It names the variable at fault.
func settingsFromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (settings, error) {
	var s settings
	for _, v := range []string{"POD_NAME", "POD_IP", "GOSSIP_KEY_FILE", "EXPECTED_SIZE"} {
		if getenv(v) == "" {
			return s, fmt.Errorf("%s is not set", v)
		}
	}
	bind := or(getenv("GOSSIP_BIND"), defaultBind)
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return s, fmt.Errorf("GOSSIP_BIND %q: %w", bind, err)
	}
	size, err := strconv.Atoi(getenv("EXPECTED_SIZE"))
	if err != nil || size < 1 {
		return s, fmt.Errorf("EXPECTED_SIZE %q: want the number of replicas", getenv("EXPECTED_SIZE"))
	}
	profile, err := cluster.ParseProfile(or(getenv("GOSSIP_PROFILE"), "lan"))
	if err != nil {
		return s, fmt.Errorf("GOSSIP_PROFILE: %w", err)
	}
	key, err := readKey(readFile, getenv("GOSSIP_KEY_FILE"))
	if err != nil {
		return s, err
	}
	for _, seed := range strings.Split(getenv("SEEDS"), ",") {
		if seed = strings.TrimSpace(seed); seed != "" {
			s.seeds = append(s.seeds, seed)
		}
	}
	if len(s.seeds) == 0 && size > 1 {
		return s, fmt.Errorf("SEEDS is not set: with EXPECTED_SIZE %d the pods must find each other", size)
	}
	s.node = cluster.Config{
		Name:          getenv("POD_NAME"),
		BindAddr:      bind,
		AdvertiseAddr: net.JoinHostPort(getenv("POD_IP"), port),
		SecretKey:     key,
		ExpectedSize:  size,
		Profile:       profile,
	}
	s.http = or(getenv("HTTP_ADDR"), ":8080")
	return s, s.node.Validate()
}

// readKey reads the cluster's key, in hex, from file.
func readKey(readFile func(string) ([]byte, error), file string) ([]byte, error) {
	text, err := readFile(file)
	if err != nil {
		return nil, fmt.Errorf("GOSSIP_KEY_FILE: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		return nil, fmt.Errorf("GOSSIP_KEY_FILE %s: want the key in hex (openssl rand -hex 32): %w", file, err)
	}
	return key, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
