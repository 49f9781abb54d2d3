package metrics

import (
	"errors"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// gossipSinkName names the bridge's collector on the registry (a
// placeholder descriptor that it never collects), so that a second
// BridgeGossip on one registry finds the first bridge there.
const gossipSinkName = "gossipsync_gossip_bridge"

// BridgeGossip makes memberlist's and serf's own figures (gossip rounds,
// probes, suspicions, queue depths, message sizes, member events; see
// the package doc) Prometheus metrics on reg, under the names that
// go-metrics' Prometheus sink gives them: memberlist_gossip,
// memberlist_msg_suspect, serf_member_join, serf_queue_Event and so on.
//
// It is opt-in and process-wide. memberlist and serf report only to
// go-metrics' global sink, one per process, not to anything a node
// holds; so BridgeGossip installs a go-metrics Prometheus sink,
// registered on reg, as that global sink. From then on the figures of
// every memberlist and serf in the process go to reg, added up over
// every node of the process (one node per process is the usual case),
// and whatever else in the process reports to go-metrics' global sink
// goes there too. It replaces the global sink that was installed before
// (another BridgeGossip's, or the program's own); a second call with the
// same reg installs the sink already registered there again. Nothing is
// reported, and nothing costs anything, until it is called: the default
// global sink discards everything.
//
// The sink keeps every metric it was given (it expires none), and
// go-metrics' timers are in milliseconds, as go-metrics measures them.
func BridgeGossip(reg prometheus.Registerer) error {
	if reg == nil {
		return errors.New("metrics: BridgeGossip: nil Registerer")
	}
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: reg, Name: gossipSinkName})
	if err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
		existing, ok := are.ExistingCollector.(*gmprom.PrometheusSink)
		if !ok {
			return err
		}
		sink = existing
	}
	cfg := &gometrics.Config{
		TimerGranularity: time.Millisecond,
		FilterDefault:    true, // report every metric
		// No hostname in names or labels, no service prefix, no
		// runtime profiling goroutine: the names stay memberlist's
		// and serf's own, and Prometheus' client reports the runtime.
	}
	_, err = gometrics.NewGlobal(cfg, sink)
	return err
}
