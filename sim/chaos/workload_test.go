package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
)

// probe is a user workload that follows the cluster through hooks and
// judges U1 (every crashed node came back: as many starts as crashes
// after the final heal) and U2, broken on purpose.
type probe struct {
	mu              sync.Mutex
	nodes           int
	crashes, starts int
	stopped         bool
}

func (p *probe) Start(_ context.Context, c *sim.Cluster) error {
	p.mu.Lock()
	p.nodes = len(c.Nodes())
	p.mu.Unlock()
	c.AddHooks(sim.Hooks{
		OnCrash: func(string) { p.mu.Lock(); p.crashes++; p.mu.Unlock() },
		OnStart: func(*cluster.Node) { p.mu.Lock(); p.starts++; p.mu.Unlock() },
	})
	return nil
}

// Timeline draws one row with one span.
func (p *probe) Timeline() []Span {
	return []Span{{Row: "probe row", Node: "n1", Label: "probe span", Start: time.Now().Add(-time.Second)}}
}

func (p *probe) Stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

func (p *probe) Check() []Property {
	p.mu.Lock()
	defer p.mu.Unlock()
	var found []string
	if p.starts != p.crashes || !p.stopped || p.nodes != 5 {
		found = append(found, "starts and crashes differ, or no Stop")
	}
	return []Property{
		Judge("U1", "every crashed node restarted", p.crashes > 0, found, ""),
		Judge("U2", "broken on purpose", true, []string{"made up"}, "one made-up violation"),
	}
}

// A user's workload runs under a scenario, follows its crashes and
// restarts, and its verdicts join the report: its table, its problems,
// its exit status and its JSON.
func TestUserWorkload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &probe{}
		rep := Run(t, Options{Scenario: "crash", Nodes: 5, Seed: 2, Duration: 6 * time.Second}, p)
		if len(rep.User()) != 2 || rep.User()[0].Verdict != Held || rep.User()[1].Verdict != Broken {
			t.Fatalf("user properties %+v; want U1 held, U2 broken", rep.User())
		}
		if !rep.Broken() || rep.Status() != 1 {
			t.Errorf("Broken %v, Status %d; want true, 1", rep.Broken(), rep.Status())
		}
		if got := strings.Join(rep.Problems, "\n"); got != "property U2 (broken on purpose) BROKEN: made up" {
			t.Errorf("problems %q; want only U2's", got)
		}
		if !strings.Contains(rep.String(), "every crashed node restarted") {
			t.Errorf("the table lacks U1:\n%s", rep)
		}
		var page bytes.Buffer
		if err := rep.WriteHTML(&page); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"your workloads", "probe row", "probe span"} {
			if !strings.Contains(page.String(), w) {
				t.Errorf("the HTML page lacks %q", w)
			}
		}
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		// The JSON is the Report itself: read back, it is the same value
		// (but for the records the page draws) and writes the same JSON.
		var j Report
		if err := json.Unmarshal(buf.Bytes(), &j); err != nil || len(j.User()) != 2 || j.User()[1].ID != "U2" {
			t.Fatalf("JSON read back: user properties %+v (%v); want U1, U2", j.User(), err)
		}
		var again bytes.Buffer
		if err := j.WriteJSON(&again); err != nil || again.String() != buf.String() {
			t.Errorf("the report read back writes other JSON (%v):\n%s\nwant\n%s", err, again.String(), buf.String())
		}
		if j.String() != rep.String() {
			t.Errorf("the report read back prints another table:\n%s\nwant\n%s", j.String(), rep.String())
		}
		if err := j.WriteHTML(io.Discard); !errors.Is(err, errNoRecords) {
			t.Errorf("WriteHTML of a report read back: %v, want errNoRecords", err)
		}
		t.Logf("U1: %d crashes, %d restarts", p.crashes, p.starts)
		time.Sleep(10 * time.Second)
	})
}

// Options out of range are an *OptionError naming the field.
func TestOptionsCheck(t *testing.T) {
	for _, tt := range []struct {
		o     Options
		field string
	}{
		{Options{Nodes: 2}, "Nodes"},
		{Options{Duration: time.Second}, "Duration"},
		{Options{Scenario: "flood"}, "Scenario"},
		{Options{Clocks: &Clocks{Skew: -time.Second}}, "Skew"},
		{Options{Clocks: &Clocks{Drift: 300_000}}, "Drift"},
		{Options{Scenario: "scale", Nodes: 150}, "Nodes"},
	} {
		var oe *OptionError
		err := tt.o.Check()
		if !errors.As(err, &oe) || oe.Field != tt.field {
			t.Errorf("%+v: %v; want an OptionError for %s", tt.o, err, tt.field)
		}
	}
	if err := (Options{}).Check(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}
