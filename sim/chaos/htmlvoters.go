package chaos

import (
	"fmt"
	"strings"
)

// noLeaderColor fills a configuration's bar while no voters' leader is
// known.
const noLeaderColor = "#ced4da"

// voters writes the lane of the voter configuration: a bar per change the
// runner saw, from then to the next change, in the colour of the voters'
// leader, with a red edge while the group had fewer voters than its
// target.
func (c *chart) voters() {
	c.heading("voters", "the voter configuration; label: epoch: voters; colour: the voters' leader; red edge: fewer voters than the target")
	changes := c.r.Voters.Changes
	var bars []bar
	for i, v := range changes {
		to := c.tl.End
		if i+1 < len(changes) {
			to = changes[i+1].At
		}
		cfg := v.Config
		color, leader := noLeaderColor, "none known"
		if cfg.Leader != "" {
			color, leader = cmpOrString(c.color[cfg.Leader], otherFault), cfg.Leader
		}
		names := strings.Join(cfg.Voters, " ")
		bars = append(bars, bar{
			from: v.At, to: to, color: color, below: len(cfg.Voters) < v.Target,
			labels: []string{fmt.Sprintf("%s: %s", fmtEpoch(cfg.Epoch), names), fmtEpoch(cfg.Epoch)},
			tip: fmt.Sprintf("from %s to %s: group %x, epoch %s, voters %s (target %d), voters' leader %s",
				secs(v.At), secs(to), cfg.Group, fmtEpoch(cfg.Epoch), names, v.Target, leader),
		})
	}
	name := "configuration"
	if len(bars) == 0 {
		name = "no voter group"
	}
	c.lanes([]lane{{name: name, bars: bars}})
}

// cmpOrString returns s, or def if s is "".
func cmpOrString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
