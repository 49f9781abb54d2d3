package metrics_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gossipsync/gossipsync/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// scrape is one Gather of a registry, by metric name.
type scrape map[string]*dto.MetricFamily

func gather(t *testing.T, g prometheus.Gatherer) scrape {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	s := scrape{}
	for _, mf := range mfs {
		s[mf.GetName()] = mf
	}
	return s
}

// metric returns the series of name whose labels include labels
// ("name=value" pairs), failing the test if there is none.
func (s scrape) metric(t *testing.T, name string, labels ...string) *dto.Metric {
	t.Helper()
	mf := s[name]
	if mf == nil {
		t.Fatalf("no metric %s in the scrape (%s)", name, strings.Join(s.names(), ", "))
	}
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels) {
			return m
		}
	}
	t.Fatalf("no series of %s with labels %v", name, labels)
	return nil
}

func hasLabels(m *dto.Metric, labels []string) bool {
	var have []string
	for _, lp := range m.GetLabel() {
		have = append(have, lp.GetName()+"="+lp.GetValue())
	}
	for _, l := range labels {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

// value returns a counter's or a gauge's value, or a histogram's count.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := s.metric(t, name, labels...)
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("%s is neither a counter, a gauge nor a histogram", name)
	return 0
}

func (s scrape) names() []string {
	var out []string
	for name := range s {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// waitFor gathers g until cond holds of the scrape, for up to 30 s.
func waitFor(t *testing.T, g prometheus.Gatherer, what string, cond func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := gather(t, g)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get is value without failing: -1 when the series is missing.
func (s scrape) get(name string, labels ...string) float64 {
	mf := s[name]
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func describe(mf *dto.MetricFamily) string {
	return fmt.Sprintf("%s (%s)", mf.GetName(), mf.GetType())
}
