package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

const membersUsage = `usage: gossipsync members [-http 127.0.0.1:8500]

Prints the members of the cluster as a running agent sees them (its
GET /v1/status): name, gossip address, state (alive, leaving, left,
failed) and role in the voter group (leader, voter, learner, client).
Exit status 1 if the agent cannot be reached.

flags:
`

const statusUsage = `usage: gossipsync status [-http 127.0.0.1:8500]

Prints the state of the cluster as a running agent sees it (its
GET /v1/status): the agent's node and health, the voter group, the
leader of each election group, the held locks with their holders,
fencing tokens and remaining hold, and the cluster clock. Exit status
1 if the agent cannot be reached.

flags:
`

// runMembers is the members command.
func runMembers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runReader(ctx, "members", membersUsage, args, stdout, stderr, printMembers)
}

// runStatus is the status command.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runReader(ctx, "status", statusUsage, args, stdout, stderr, printStatus)
}

// runReader runs a command that reads an agent's status and prints it.
func runReader(ctx context.Context, name, usage string, args []string, stdout, stderr io.Writer, print func(io.Writer, Status) error) int {
	fs := newFlagSet(name, usage, stderr)
	addr := fs.String("http", "127.0.0.1:8500", "the `address` of the agent's HTTP API (its -http)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the agent")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gossipsync %s: unexpected argument %q\n\n", name, fs.Arg(0))
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	st, err := fetchStatus(ctx, *addr)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync %s: %v\n", name, err)
		return 1
	}
	if err := print(stdout, st); err != nil {
		fmt.Fprintf(stderr, "gossipsync %s: %v\n", name, err)
		return 1
	}
	return 0
}

// agentURL is the URL of path on the agent at addr ("ip:port", or a
// URL with a scheme).
func agentURL(addr, path string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimSuffix(addr, "/") + path
}

// fetchStatus reads GET /v1/status of the agent at addr.
func fetchStatus(ctx context.Context, addr string) (Status, error) {
	url := agentURL(addr, "/v1/status")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Status{}, fmt.Errorf("-http %q: %v", addr, err)
	}
	// One request: no connection is kept for later.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("cannot reach the agent at %s (is gossipsync agent running with -http %s?): %v", url, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Status{}, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("%s: not a status: %v", url, err)
	}
	return st, nil
}

// printMembers prints the members as a table.
func printMembers(w io.Writer, st Status) error {
	rows := make([][]string, 0, len(st.Members))
	for _, m := range st.Members {
		rows = append(rows, []string{m.Name, m.Addr, m.State, m.Role})
	}
	return printTable(w, []string{"NAME", "ADDRESS", "STATE", "ROLE"}, rows, "(no members)")
}

// printStatus prints the node, voters, leaders, locks and clock.
func printStatus(w io.Writer, st Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	n := st.Node
	fmt.Fprintf(tw, "Node:\t%s (%s, profile %s), %s\n", n.Name, n.Addr, n.Profile, n.Health)
	fmt.Fprintf(tw, "Members:\t%s\n", memberCounts(st.Members))
	v := st.Voters
	group := v.Group
	if group == "" {
		group = "none yet"
	}
	fmt.Fprintf(tw, "Voters:\tgroup %s, leader %s, voters %s, learners %s; this node: %s\n",
		group, orNone(v.Leader), orNone(strings.Join(v.Voters, ", ")), orNone(strings.Join(v.Learners, ", ")), v.Role)
	fmt.Fprintf(tw, "Clock:\t%s\n", clockLine(st.Clock))
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Grants.Error != "" {
		fmt.Fprintf(w, "\nLeaders and locks unknown: %s\n", st.Grants.Error)
		return nil
	}
	var rows [][]string
	for _, l := range st.Leaders {
		rows = append(rows, []string{l.Group, l.Node, l.ID, l.Term, seconds(l.RemainingMS)})
	}
	fmt.Fprintln(w)
	if err := printTable(w, []string{"GROUP", "LEADER", "CANDIDATE", "TERM", "LEASE LEFT"}, rows, "(no leader)"); err != nil {
		return err
	}
	rows = nil
	for _, l := range st.Locks {
		id := l.ID
		if l.Slot != nil {
			id = fmt.Sprintf("%s (slot %d)", l.ID, *l.Slot)
		}
		rows = append(rows, []string{id, l.Node, l.Token, seconds(l.RemainingMS)})
	}
	fmt.Fprintln(w)
	if err := printTable(w, []string{"LOCK", "HOLDER", "TOKEN", "HOLD LEFT"}, rows, "(no lock held)"); err != nil {
		return err
	}
	if st.Grants.More > 0 {
		fmt.Fprintf(w, "(%d more grants not listed)\n", st.Grants.More)
	}
	return nil
}

// printTable prints a table with a header, or the header and empty
// when there are no rows.
func printTable(w io.Writer, header []string, rows [][]string, empty string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, empty)
	}
	return tw.Flush()
}

// memberCounts is "3 (3 alive)" or "4 (3 alive, 1 failed)".
func memberCounts(ms []MemberStatus) string {
	counts := map[string]int{}
	for _, m := range ms {
		counts[m.State]++
	}
	states := make([]string, 0, len(counts))
	for s := range counts {
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i] == "alive" || states[j] != "alive" && states[i] < states[j] })
	parts := make([]string, 0, len(states))
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	return fmt.Sprintf("%d (%s)", len(ms), strings.Join(parts, ", "))
}

// clockLine describes the clock on one line.
func clockLine(c ClockStatus) string {
	ref := orNone(c.Reference)
	if c.IsReference {
		ref += " (this node)"
	}
	if !c.Synced {
		return fmt.Sprintf("not synchronized (%s); reference %s", c.Error, ref)
	}
	return fmt.Sprintf("synchronized to %s: offset %.3f ms, uncertainty ±%.3f ms, round trip %.3f ms; cluster time %s",
		ref, c.OffsetMS, c.UncertaintyMS, c.RTTMS, c.Now.UTC().Format(time.RFC3339Nano))
}

func seconds(ms float64) string { return fmt.Sprintf("%.1fs", ms/1000) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
