package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// maxShownChanges is how many configuration changes the text report
// lists; beyond that it lists the first and the last half of them.
const maxShownChanges = 20

// voterReport is the voter configuration over a run: each change the
// voter watch saw (see voterWatch) and the longest stretch of time with
// fewer voters than the target.
type voterReport struct {
	Changes      []voterChange
	LongestBelow time.Duration // 0: never below the target
	BelowFrom    time.Duration // when that stretch began, from the start of the schedule
}

// voterChange is a configuration and when it was first seen.
type voterChange struct {
	At     time.Duration // from the start of the schedule; negative: before it
	Config voterConfig
	Target int // the number of voters the group aimed at then (see voterTarget)
}

func newVoterReport(changes []configChange, start time.Time, longest time.Duration, from time.Time) voterReport {
	v := voterReport{LongestBelow: longest}
	if longest > 0 {
		v.BelowFrom = from.Sub(start)
	}
	for _, c := range changes {
		v.Changes = append(v.Changes, voterChange{At: c.At.Sub(start), Config: c.Config, Target: c.Target})
	}
	return v
}

// counts returns how many configurations (group, epoch and voters) and
// how many groups the changes show; a change of the leader alone is not
// a new configuration.
func (v *voterReport) counts() (configs, groups int) {
	seen := map[string]bool{}
	seenGroup := map[uint64]bool{}
	for _, c := range v.Changes {
		key := fmt.Sprintf("%x/%d/%s", c.Config.Group, c.Config.Epoch, strings.Join(c.Config.Voters, " "))
		if !seen[key] {
			seen[key] = true
			configs++
		}
		if !seenGroup[c.Config.Group] {
			seenGroup[c.Config.Group] = true
			groups++
		}
	}
	return configs, groups
}

// summary is the section's last line: "12 configurations in 1 group
// (epochs 1 to 305), 20 changes; below the target for at most 1.2s (from
// 3.4s)".
func (v *voterReport) summary() string {
	if len(v.Changes) == 0 {
		return "no voter group seen"
	}
	configs, groups := v.counts()
	first, last := v.Changes[0].Config.Epoch, v.Changes[len(v.Changes)-1].Config.Epoch
	s := fmt.Sprintf("%d configurations in %d group%s (epochs %s to %s), %d changes; ", configs, groups, plural(groups), fmtEpoch(first), fmtEpoch(last), len(v.Changes))
	if v.LongestBelow == 0 {
		return s + "never fewer voters than the target"
	}
	return s + fmt.Sprintf("fewer voters than the target for at most %s (from %s)", fmtDur(v.LongestBelow), secs(v.BelowFrom))
}

// fmtEpoch prints an epoch, "?" for one not known.
func fmtEpoch(e uint64) string {
	if e == 0 {
		return "?"
	}
	return fmt.Sprint(e)
}

// print writes the voters section of the report: a line per change (the
// first and last ones if there are many) and the summary.
func (v *voterReport) print(w io.Writer) {
	fmt.Fprintln(w, "voter configuration (each change of the group, epoch, voters or voters' leader; target: the voters the group aims at)")
	rows := [][]string{{"time", "group", "epoch", "voters (target)", "leader"}}
	for i, c := range v.Changes {
		if len(v.Changes) > maxShownChanges && i == maxShownChanges/2 {
			rows = append(rows, []string{"...", "", "", fmt.Sprintf("(%d more)", len(v.Changes)-maxShownChanges), ""})
		}
		if len(v.Changes) > maxShownChanges && i >= maxShownChanges/2 && i < len(v.Changes)-maxShownChanges/2 {
			continue
		}
		rows = append(rows, c.cells())
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for k, cell := range r {
			widths[k] = max(widths[k], len(cell))
		}
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %*s  %-*s  %*s  %-*s  %s\n", widths[0], r[0], widths[1], r[1], widths[2], r[2], widths[3], r[3], r[4])
	}
	fmt.Fprintf(w, "  %s\n", v.summary())
}

// cells are the columns of c in the text report.
func (c voterChange) cells() []string {
	leader := c.Config.Leader
	if leader == "" {
		leader = "none"
	}
	return []string{secs(c.At), fmt.Sprintf("%x", c.Config.Group), fmtEpoch(c.Config.Epoch),
		fmt.Sprintf("%s (%d)", strings.Join(c.Config.Voters, " "), c.Target), leader}
}

// jsonVoters is the voter configuration over the run.
type jsonVoters struct {
	// Changes are each change of the group, epoch, voters or voters'
	// leader that the runner saw, sampling every 50 ms, in order.
	Changes []jsonConfigChange `json:"changes"`
	// Configurations counts the distinct configurations (group, epoch
	// and voters) among Changes, and Groups the groups.
	Configurations int `json:"configurations"`
	Groups         int `json:"groups"`
	// LongestBelowTarget is the longest stretch of time with fewer
	// voters than the target ("0s": never), and LongestBelowFrom when it
	// began, from the start of the schedule (absent if never).
	LongestBelowTarget jsonDur  `json:"longest_below_target"`
	LongestBelowFrom   *jsonDur `json:"longest_below_from,omitempty"`
}

// jsonConfigChange is one configuration of the voter group.
type jsonConfigChange struct {
	At     jsonDur  `json:"at"`     // first seen, from the start of the schedule; negative: before it
	Group  string   `json:"group"`  // the group's ID in hex, as gossip carries it
	Epoch  uint64   `json:"epoch"`  // the configuration's number: the log index of its entry; 0: not known (compacted)
	Voters []string `json:"voters"` // sorted
	Leader string   `json:"leader"` // the voters' Raft leader; "": none known
	Target int      `json:"target"` // the number of voters the group aimed at: odd, at most the configured voters and the alive nodes
}

func (v *voterReport) toJSON() jsonVoters {
	configs, groups := v.counts()
	j := jsonVoters{Changes: []jsonConfigChange{}, Configurations: configs, Groups: groups, LongestBelowTarget: jsonDur(v.LongestBelow)}
	if v.LongestBelow > 0 {
		j.LongestBelowFrom = durPtr(v.BelowFrom)
	}
	for _, c := range v.Changes {
		j.Changes = append(j.Changes, jsonConfigChange{At: jsonDur(c.At), Group: fmt.Sprintf("%x", c.Config.Group),
			Epoch: c.Config.Epoch, Voters: append([]string{}, c.Config.Voters...), Leader: c.Config.Leader, Target: c.Target})
	}
	return j
}

// leaderlessAfter returns how long after at (from the start of the
// schedule) the voters were without a Raft leader: 0 if one was known
// then, else until the first change that names one (0 if none does: no
// excuse without a leader seen).
func (v *voterReport) leaderlessAfter(at time.Duration) time.Duration {
	leader := false
	for _, c := range v.Changes {
		switch {
		case c.At <= at:
			leader = c.Config.Leader != ""
		case leader:
			return 0
		case c.Config.Leader != "":
			return c.At - at
		}
	}
	return 0
}
