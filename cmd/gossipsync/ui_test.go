package main

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of Chromium, skipping the test without it.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	return path
}

// runChromium loads url in a headless Chromium with extra flags, lets
// the page run for 2.5 s of its time (its first load of /v1/status and
// one refresh), and returns what it printed and logged.
func runChromium(t *testing.T, url string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2500"}, extra...)
	cmd := exec.CommandContext(ctx, chromium(t), append(args, url)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errs.String())
	}
	return out.String(), errs.String()
}

// checkUI loads the agent's /ui in Chromium: the page loads with no
// console message and no script error, and shows what /v1/status says:
// every member, the voters' leader, each election group's leader and
// term, and each lock's holder and token. Leases of elections can change
// while the page loads (on a loaded machine a 1 s lease is lost now and
// then): what the page shows of each is matched against /v1/status read
// before and after it, and the page is loaded again, up to three times,
// if it still differs.
func checkUI(t *testing.T, a *testAgent) {
	chromium(t)
	var missing []string
	for try := 0; try < 3; try++ {
		before, err := statusOf(t, a)
		if err != nil {
			t.Fatal(err)
		}
		dom, logs := runChromium(t, "http://"+a.http+"/ui", "--dump-dom")
		after, err := statusOf(t, a)
		if err != nil {
			t.Fatal(err)
		}
		body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
		if body == "" {
			t.Fatalf("no body in the DOM chromium dumped:\n%.2000s\nstderr:\n%s", dom, logs)
		}
		if !strings.Contains(body, `data-loaded="yes"`) || strings.Contains(body, "data-error") || strings.Contains(body, "data-fetch-error") {
			t.Fatalf("the page did not load /v1/status cleanly: %s", body)
		}
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, ":CONSOLE") {
				t.Errorf("console message: %s", line)
			}
		}
		missing = missingFromPage(dom, before, after)
		if len(missing) == 0 {
			return
		}
	}
	t.Errorf("the page lacks what /v1/status shows: %q", missing)
}

// pageCells returns, by what they describe, the cells the page must show
// for st.
func pageCells(st Status) map[string]string {
	e := html.EscapeString
	cells := map[string]string{
		"node":          `<b id="node">` + e(st.Node.Name) + `</b>`,
		"voters leader": `<dd class="leader">` + e(st.Voters.Leader) + `</dd>`,
	}
	for _, m := range st.Members {
		cells["member "+m.Name] = `<td class="name">` + e(m.Name) + `</td>`
	}
	for _, l := range st.Leaders {
		cells["leader of "+l.Group] = `<td class="group">` + e(l.Group) + `</td><td class="node">` + e(l.Node) + `</td>` +
			`<td>` + e(l.ID) + `</td><td class="num mono term">` + l.Term + `</td>`
	}
	for _, l := range st.Locks {
		cells["lock "+l.ID] = `<td class="id">` + e(l.ID) + `</td><td class="node">` + e(l.Node) + `</td>` +
			`<td class="num mono token">` + l.Token + `</td>`
	}
	return cells
}

// missingFromPage lists what dom lacks of the statuses: a thing that
// every status shows must be on the page as one of them shows it.
func missingFromPage(dom string, sts ...Status) []string {
	shown := make([]map[string]string, len(sts))
	for i, st := range sts {
		shown[i] = pageCells(st)
	}
	var missing []string
	for what := range shown[0] {
		var variants []string
		for _, cells := range shown {
			if c, ok := cells[what]; ok {
				variants = append(variants, c)
			}
		}
		if len(variants) < len(sts) {
			continue // not in every status: it came or went meanwhile
		}
		if !slices.ContainsFunc(variants, func(c string) bool { return strings.Contains(dom, c) }) {
			missing = append(missing, variants[0])
		}
	}
	slices.Sort(missing)
	return missing
}

// screenshot saves a 1000x700 PNG of the agent's /ui to path.
func screenshot(t *testing.T, a *testAgent, path string) {
	chromium(t)
	runChromium(t, "http://"+a.http+"/ui", "--window-size=1000,700", "--hide-scrollbars", "--screenshot="+path)
	if info, err := os.Stat(path); err != nil || info.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", path, err)
	}
}

// missingFromPage finds a lock token the page does not show, and
// accepts a leader that changed between two reads in either form.
func TestMissingFromPage(t *testing.T) {
	before := sampleStatus()
	after := sampleStatus()
	after.Leaders[0].Node, after.Leaders[0].Term = "c", "99"
	var page strings.Builder
	for _, c := range pageCells(before) {
		page.WriteString(c)
	}
	if got := missingFromPage(page.String(), before, after); len(got) != 0 {
		t.Errorf("a page of the first read lacks %q", got)
	}
	after.Locks[0].Token = "1"
	if got := missingFromPage(page.String(), after); len(got) != 2 {
		t.Errorf("a page with an old leader and token lacks %q; want both", got)
	}
}
