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

// voterRecord is the voter configuration over a run: each change the
// voter watch saw (see voterWatch) and the longest stretch of time with
// fewer voters than the target.
type voterRecord struct {
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

func newVoterRecord(changes []configChange, start time.Time, longest time.Duration, from time.Time) voterRecord {
	v := voterRecord{LongestBelow: longest}
	if longest > 0 {
		v.BelowFrom = from.Sub(start)
	}
	for _, c := range changes {
		v.Changes = append(v.Changes, voterChange{At: c.At.Sub(start), Config: c.Config, Target: c.Target})
	}
	return v
}

// newLeaderAfter returns how long after at (from the start of the
// schedule) the voters were first seen led by another node than crashed;
// 0 if never (E4 is then judged from detection alone).
func (v voterRecord) newLeaderAfter(at time.Duration, crashed string) time.Duration {
	for _, c := range v.Changes {
		if c.At >= at && c.Config.Leader != "" && c.Config.Leader != crashed {
			return c.At - at
		}
	}
	return 0
}

// counts returns how many configurations (group, epoch and voters) and
// how many groups the changes show; a change of the leader alone is not
// a new configuration.
func (v voterRecord) counts() (configs, groups int) {
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
func (v *VoterReport) summary() string {
	if len(v.Changes) == 0 {
		return "no voter group seen"
	}
	first, last := v.Changes[0].Epoch, v.Changes[len(v.Changes)-1].Epoch
	s := fmt.Sprintf("%d configurations in %d group%s (epochs %s to %s), %d changes; ",
		v.Configurations, v.Groups, plural(v.Groups), fmtEpoch(first), fmtEpoch(last), len(v.Changes))
	if v.LongestBelowTarget == 0 || v.LongestBelowFrom == nil {
		return s + "never fewer voters than the target"
	}
	return s + fmt.Sprintf("fewer voters than the target for at most %s (from %s)", fmtDur(v.LongestBelowTarget.Std()), secs(v.LongestBelowFrom.Std()))
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
func (v *VoterReport) print(w io.Writer) {
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
func (c ConfigChange) cells() []string {
	leader := c.Leader
	if leader == "" {
		leader = "none"
	}
	return []string{secs(c.At.Std()), c.Group, fmtEpoch(c.Epoch),
		fmt.Sprintf("%s (%d)", strings.Join(c.Voters, " "), c.Target), leader}
}

func (v voterRecord) summary() VoterReport {
	configs, groups := v.counts()
	j := VoterReport{Changes: []ConfigChange{}, Configurations: configs, Groups: groups, LongestBelowTarget: Duration(v.LongestBelow)}
	if v.LongestBelow > 0 {
		j.LongestBelowFrom = durPtr(v.BelowFrom)
	}
	for _, c := range v.Changes {
		j.Changes = append(j.Changes, ConfigChange{At: Duration(c.At), Group: fmt.Sprintf("%x", c.Config.Group),
			Epoch: c.Config.Epoch, Voters: append([]string{}, c.Config.Voters...), Leader: c.Config.Leader, Target: c.Target})
	}
	return j
}

// leaderlessAfter returns how long after at (from the start of the
// schedule) the voters were without a Raft leader: 0 if one was known
// then, else until the first change that names one (0 if none does: no
// excuse without a leader seen).
func (v *voterRecord) leaderlessAfter(at time.Duration) time.Duration {
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
