package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// fakeSource serves a fixed status and health.
type fakeSource struct {
	st     Status
	ok     bool
	reason string
}

func (f fakeSource) status(context.Context) Status { return f.st }
func (f fakeSource) health() (bool, string)        { return f.ok, f.reason }

// sampleStatus is a status of three members, a leader and a lock, made
// as the agent makes it.
func sampleStatus() Status {
	info := voters.Info{Group: 0xabc, Leader: "b", Voters: []string{"a", "b"}, Learners: []string{"c"}, Role: "voter", Epoch: 4}
	st := Status{
		Node: NodeStatus{Name: "a", Addr: "127.0.0.1:7946", HTTP: "127.0.0.1:8500", Profile: "lan", Healthy: true, Health: "ok"},
		Members: membersStatus([]cluster.MemberState{
			{Member: cluster.Member{Name: "a", Addr: "127.0.0.1:7946", Tags: map[string]string{"_v": "1", "zone": "x"}}, State: "alive"},
			{Member: cluster.Member{Name: "b", Addr: "127.0.0.1:7947"}, State: "alive"},
			{Member: cluster.Member{Name: "c", Addr: "127.0.0.1:7948"}, State: "alive"},
			{Member: cluster.Member{Name: "d", Addr: "127.0.0.1:7949"}, State: "failed"},
		}, info),
		Voters: votersStatus(info),
		Clock: ClockStatus{Synced: true, Reference: "b", Term: "7", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			OffsetMS: 1.5, UncertaintyMS: 0.25, RTTMS: 0.5, Samples: 8},
	}
	fillGrants(&st, voters.Grants{From: "b", More: 2, Grants: []voters.Grant{
		{Key: "e/agent", Node: "b", Owner: "b", Token: 1 << 60, Remaining: 1500 * time.Millisecond},
		{Key: "l/jobs/1", Node: "c", Owner: "c-mgr", Handle: 3, Token: 1<<60 + 1, Remaining: 12 * time.Second},
		{Key: "l/" + lockmgr.SlotID("pool", 2), Node: "a", Owner: "a-mgr", Handle: 1, Token: 1<<60 + 2, Remaining: time.Second},
		{Key: "x/other", Node: "c", Token: 5},
	}})
	st.normalize()
	return st
}

func TestFillGrantsAndRoles(t *testing.T) {
	st := sampleStatus()
	wantLeaders := []LeaderStatus{{Group: "agent", Node: "b", ID: "b", Term: "1152921504606846976", RemainingMS: 1500}}
	two := 2
	wantLocks := []LockStatus{{ID: "jobs/1", Node: "c", Owner: "c-mgr", Handle: 3, Token: "1152921504606846977", RemainingMS: 12000},
		{ID: "pool", Slot: &two, Node: "a", Owner: "a-mgr", Handle: 1, Token: "1152921504606846978", RemainingMS: 1000}}
	if got, _ := json.Marshal(st.Leaders); string(got) != mustJSON(t, wantLeaders) {
		t.Errorf("leaders = %s; want %s", got, mustJSON(t, wantLeaders))
	}
	if got, _ := json.Marshal(st.Locks); string(got) != mustJSON(t, wantLocks) {
		t.Errorf("locks = %s; want %s", got, mustJSON(t, wantLocks))
	}
	if st.Grants != (GrantsStatus{From: "b", More: 2, Other: 1}) {
		t.Errorf("grants = %+v; want from b, 2 more, 1 other", st.Grants)
	}
	roles := map[string]string{}
	for _, m := range st.Members {
		roles[m.Name] = m.Role
	}
	if want := map[string]string{"a": "voter", "b": "leader", "c": "learner", "d": "client"}; mustJSON(t, roles) != mustJSON(t, want) {
		t.Errorf("roles = %v; want %v", roles, want)
	}
	if v := votersStatus(voters.Info{}); v.Group != "" || v.Role != "client" || v.Voters == nil || v.Learners == nil {
		t.Errorf("votersStatus of nothing = %+v; want no group, role client, empty lists", v)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The API's routes: status codes, content types and bodies.
func TestHandler(t *testing.T) {
	healthy := newHandler(fakeSource{st: sampleStatus(), ok: true, reason: "ok"}, nil)
	joining := newHandler(fakeSource{st: Status{}, ok: false, reason: "not joined: no seed could be contacted"}, nil)
	tests := []struct {
		name     string
		h        http.Handler
		method   string
		path     string
		wantCode int
		wantType string
		wantBody string
	}{
		{"healthz", healthy, "GET", "/healthz", 200, "text/plain", "ok\n"},
		{"healthz not joined", joining, "GET", "/healthz", 503, "text/plain", "not joined: no seed could be contacted\n"},
		{"status", healthy, "GET", "/v1/status", 200, "application/json", `"token": "1152921504606846977"`},
		{"status of nothing has lists", joining, "GET", "/v1/status", 200, "application/json", `"members": []`},
		{"status is read-only", healthy, "POST", "/v1/status", 405, "", ""},
		{"ui", healthy, "GET", "/ui", 200, "text/html", "<title>gossipsync agent</title>"},
		{"root redirects", healthy, "GET", "/", 302, "", ""},
		{"metrics not built in", healthy, "GET", "/metrics", 404, "text/plain", "metrics not built in"},
		{"unknown path", healthy, "GET", "/nope", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("%s %s: %d; want %d", tt.method, tt.path, rec.Code, tt.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q; want %q", ct, tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body %.500q; want it to contain %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
	rec := httptest.NewRecorder()
	healthy.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if loc := rec.Header().Get("Location"); loc != "/ui" {
		t.Errorf("/ redirects to %q; want /ui", loc)
	}
}

// /v1/status is the JSON of Status, with the documented keys.
func TestStatusJSONShape(t *testing.T) {
	rec := httptest.NewRecorder()
	newHandler(fakeSource{st: sampleStatus(), ok: true}, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, rec.Body.String())
	}
	for _, path := range []string{
		"node.name", "node.addr", "node.http", "node.healthy", "node.health",
		"voters.group", "voters.leader", "voters.voters", "voters.learners", "voters.role", "voters.epoch",
		"grants.from", "grants.more",
		"clock.synced", "clock.reference", "clock.is_reference", "clock.offset_ms", "clock.uncertainty_ms", "clock.now",
	} {
		var v any = doc
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if v == nil {
			t.Errorf("no %s in %s", path, rec.Body.String())
		}
	}
	for key, fields := range map[string][]string{
		"members": {"name", "addr", "state", "role", "tags"},
		"leaders": {"group", "node", "id", "term", "remaining_ms"},
		"locks":   {"id", "node", "owner", "token", "remaining_ms"},
	} {
		list, _ := doc[key].([]any)
		if len(list) == 0 {
			t.Errorf("%s: %v; want a list", key, doc[key])
			continue
		}
		for _, f := range fields {
			if _, ok := list[0].(map[string]any)[f]; !ok {
				t.Errorf("%s[0] has no %q", key, f)
			}
		}
	}
	if tok, _ := doc["locks"].([]any)[0].(map[string]any)["token"].(string); tok != "1152921504606846977" {
		t.Errorf("a token is %q in JSON; want it as a decimal string", tok)
	}
}

// The page needs nothing from elsewhere: no external script, style,
// image or font.
func TestUIPageSelfContained(t *testing.T) {
	for _, m := range regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?([^"' >]+)`).FindAllStringSubmatch(string(uiPage), -1) {
		if !strings.HasPrefix(m[2], "data:") && !strings.HasPrefix(m[2], "/") {
			t.Errorf("the page loads %s=%s", m[1], m[2])
		}
	}
	if bytes.Contains(uiPage, []byte("@import")) || bytes.Contains(uiPage, []byte("url(")) {
		t.Error("the page's style loads something")
	}
}

func TestPrintMembers(t *testing.T) {
	var b bytes.Buffer
	if err := printMembers(&b, sampleStatus()); err != nil {
		t.Fatal(err)
	}
	want := `NAME  ADDRESS         STATE   ROLE
a     127.0.0.1:7946  alive   voter
b     127.0.0.1:7947  alive   leader
c     127.0.0.1:7948  alive   learner
d     127.0.0.1:7949  failed  client
`
	if b.String() != want {
		t.Errorf("printMembers:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintStatus(t *testing.T) {
	tests := []struct {
		name string
		st   func(*Status)
		want []string
	}{
		{"held", func(*Status) {}, []string{
			"Node:     a (127.0.0.1:7946, profile lan), ok\n",
			"Members:  4 (3 alive, 1 failed)\n",
			"Voters:   group abc, leader b, voters a, b, learners c; this node: voter\n",
			"Clock:    synchronized to b: offset 1.500 ms, uncertainty ±0.250 ms, round trip 0.500 ms; cluster time 2026-01-02T03:04:05Z\n",
			"GROUP  LEADER  CANDIDATE  TERM                 LEASE LEFT\nagent  b       b          1152921504606846976  1.5s\n",
			"LOCK           HOLDER  TOKEN                HOLD LEFT\njobs/1         c       1152921504606846977  12.0s\npool (slot 2)  a       1152921504606846978  1.0s\n",
			"(2 more grants not listed)\n",
		}},
		{"nothing held", func(st *Status) { st.Leaders, st.Locks, st.Grants.More = nil, nil, 0 }, []string{
			"GROUP  LEADER  CANDIDATE  TERM  LEASE LEFT\n(no leader)\n",
			"LOCK  HOLDER  TOKEN  HOLD LEFT\n(no lock held)\n",
		}},
		{"no table", func(st *Status) {
			st.Grants.Error = "no voter group known yet"
			st.Clock = ClockStatus{Error: "clock: not synchronized"}
			st.Voters = votersStatus(voters.Info{})
		}, []string{
			"Voters:   group none yet, leader none, voters none, learners none; this node: client\n",
			"Clock:    not synchronized (clock: not synchronized); reference none\n",
			"Leaders and locks unknown: no voter group known yet\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := sampleStatus()
			tt.st(&st)
			var b bytes.Buffer
			if err := printStatus(&b, st); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("printStatus lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// members and status read an agent over HTTP, and say so clearly when
// there is none.
func TestReaders(t *testing.T) {
	srv := httptest.NewServer(newHandler(fakeSource{st: sampleStatus(), ok: true, reason: "ok"}, nil))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nobody listens there now
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"members", []string{"members", "-http", srv.Listener.Addr().String()}, 0, "d     127.0.0.1:7949  failed  client", ""},
		{"members by URL", []string{"members", "-http", srv.URL + "/"}, 0, "b     127.0.0.1:7947  alive   leader", ""},
		{"status", []string{"status", "-http", srv.Listener.Addr().String()}, 0, "jobs/1         c       1152921504606846977", ""},
		{"members, no agent", []string{"members", "-http", dead}, 1, "",
			"gossipsync members: cannot reach the agent at http://" + dead + "/v1/status (is gossipsync agent running with -http " + dead + "?)"},
		{"status, no agent", []string{"status", "-http", dead}, 1, "", "gossipsync status: cannot reach the agent at http://" + dead},
		{"status, not an agent", []string{"status", "-http", srv.Listener.Addr().String() + "/nope"}, 1, "", "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit status %d; want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q; want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q; want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
