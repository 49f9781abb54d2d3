package main

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
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
// each lock's holder and token. What changed between the two reads
// (a new leader) is read again, up to three times.
func checkUI(t *testing.T, a *testAgent) {
	chromium(t)
	var missing []string
	for try := 0; try < 3; try++ {
		st, err := statusOf(t, a)
		if err != nil {
			t.Fatal(err)
		}
		dom, logs := runChromium(t, "http://"+a.http+"/ui", "--dump-dom")
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
		missing = missingFromPage(dom, st)
		if len(missing) == 0 {
			return
		}
	}
	t.Errorf("the page lacks what /v1/status shows: %q", missing)
}

// missingFromPage lists the cells of st that dom lacks.
func missingFromPage(dom string, st Status) []string {
	want := []string{`<b id="node">` + html.EscapeString(st.Node.Name) + `</b>`,
		`<dd class="leader">` + html.EscapeString(st.Voters.Leader) + `</dd>`}
	for _, m := range st.Members {
		want = append(want, `<td class="name">`+html.EscapeString(m.Name)+`</td>`)
	}
	for _, l := range st.Leaders {
		want = append(want, `<td class="group">`+html.EscapeString(l.Group)+`</td><td class="node">`+html.EscapeString(l.Node)+`</td>`,
			`<td class="num mono term">`+l.Term+`</td>`)
	}
	for _, l := range st.Locks {
		want = append(want, `<td class="id">`+html.EscapeString(l.ID)+`</td><td class="node">`+html.EscapeString(l.Node)+`</td>`+
			`<td class="num mono token">`+l.Token+`</td>`)
	}
	var missing []string
	for _, w := range want {
		if !strings.Contains(dom, w) {
			missing = append(missing, w)
		}
	}
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
