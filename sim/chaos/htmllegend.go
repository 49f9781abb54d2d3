package chaos

import (
	"fmt"
	"html/template"
	"slices"
)

// swatch returns a small inline SVG of a legend entry.
func swatch(body string) template.HTML {
	return template.HTML(`<svg class="sw" width="22" height="12" viewBox="0 0 22 12">` + body + `</svg>`)
}

func swatchFill(color string, opacity float64) template.HTML {
	return swatch(fmt.Sprintf(`<rect x="0" y="0" width="22" height="12" fill="%s" fill-opacity="%.2f"/>`, color, opacity))
}

// legend lists the fault kinds that occur, the final heal, the node
// colours and the marks of each section.
func (c *chart) legend() []legendGroup {
	faults := legendGroup{Name: "faults"}
	var kinds []fault
	for _, p := range c.r.Phases {
		if !slices.Contains(kinds, p.Fault) {
			kinds = append(kinds, p.Fault)
		}
	}
	if c.tl.Begin < 0 {
		faults.Items = append(faults.Items, legendItem{swatchFill(startColor, 0.4), "before the schedule"})
	}
	for _, k := range kinds {
		faults.Items = append(faults.Items, legendItem{swatchFill(faultColor(k), 0.45), string(k)})
	}
	faults.Items = append(faults.Items,
		legendItem{swatch(`<rect width="22" height="12" fill="` + finalColor + `" fill-opacity="0.2"/><line x1="1" x2="1" y1="0" y2="12" stroke="` + finalColor + `" stroke-width="2"/>`), "final heal and after"},
		legendItem{swatch(`<rect y="5" width="22" height="3" fill="` + convergedOK + `"/>`), "time to converge"},
		legendItem{swatch(`<rect y="5" width="22" height="3" fill="` + convergedNo + `"/>`), "did not converge"},
	)
	nodeStates := legendGroup{Name: "node rows", Items: []legendItem{
		{swatchFill(downColor, 0.3), "down (crashed)"},
		{swatchFill(faultColor(faultPartition), 0.35), "cut off (minority side)"},
		{swatchFill(faultColor(faultPause), 0.4), "frozen (paused)"},
	}}
	locks := legendGroup{Name: "locks", Items: []legendItem{
		{swatch(`<rect width="22" height="12" fill="#4e79a7"/><rect width="22" height="12" fill="url(#paused)"/>`), "holder paused"},
		{swatch(`<rect x="1" y="1" width="20" height="10" fill="#4e79a7" stroke="` + convergedNo + `" stroke-width="2"/>`), "write refused (stale token)"},
	}}
	clocks := legendGroup{Name: "clocks", Items: []legendItem{
		{swatch(`<rect y="2" width="22" height="8" fill="` + bandColor + `" fill-opacity="0.6"/><line x1="0" x2="22" y1="6" y2="6" stroke="` + errorColor + `" stroke-width="1.5"/>`), "error and ± uncertainty"},
		{swatch(`<rect y="2" width="22" height="8" fill="` + refColor + `" fill-opacity="0.5"/>`), "the reference (± its uncertainty)"},
		{swatch(`<rect y="3" width="22" height="6" fill="` + staleColor + `"/>`), "on an older term (not judged)"},
		{swatchFill(unsynced, 0.6), "unsynced"},
		{swatchFill(noRefColor, 1), "no reference"},
	}}
	tasks := legendGroup{Name: "tasks", Items: []legendItem{{swatchFill(loadColor, 0.7), "Runs in flight"}}}
	events := legendGroup{Name: "events", Items: []legendItem{
		{swatchFill(eventColor, 0.7), "Publishes acknowledged; lag"},
		{swatchFill(convergedNo, 0.5), "Publish failed"},
		{swatchFill(convergedNo, 0.8), "offsets skipped (S1)"},
	}}
	voters := legendGroup{Name: "voters", Items: []legendItem{
		{swatch(`<rect x="1" y="1" width="20" height="10" fill="#4e79a7" stroke="` + convergedNo + `" stroke-width="2"/>`), "fewer voters than the target"},
		{swatchFill(noLeaderColor, 1), "no voters' leader known"},
	}}
	nodes := legendGroup{Name: "nodes"}
	for _, n := range c.tl.Nodes {
		nodes.Items = append(nodes.Items, legendItem{swatchFill(c.color[n], 1), n})
	}
	return []legendGroup{faults, nodeStates, voters, locks, clocks, tasks, events, nodes}
}
