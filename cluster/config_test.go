package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring naming the field; "" = valid
	}{
		{"zero value", Config{}, ""},
		{"full", Config{Name: "a", BindAddr: "127.0.0.1:0", AdvertiseAddr: "127.0.0.1:7000", SecretKey: make([]byte, 32), Tags: map[string]string{"role": "web"}, Profile: Local, ExpectedSize: 5}, ""},
		{"localhost", Config{BindAddr: "localhost:7946"}, ""},
		{"name with space", Config{Name: "a b"}, "Name"},
		{"name too long", Config{Name: strings.Repeat("x", 129)}, "Name"},
		{"bind without port", Config{BindAddr: "127.0.0.1"}, "BindAddr"},
		{"bind hostname", Config{BindAddr: "example.invalid:7946"}, "BindAddr"},
		{"bind bad port", Config{BindAddr: "127.0.0.1:99999"}, "BindAddr"},
		{"advertise unspecified", Config{AdvertiseAddr: "0.0.0.0:7946"}, "AdvertiseAddr"},
		{"key 15 bytes", Config{SecretKey: make([]byte, 15)}, "SecretKey"},
		{"key 33 bytes", Config{SecretKey: make([]byte, 33)}, "SecretKey"},
		{"empty non-nil key", Config{SecretKey: []byte(os.Getenv("GOSSIPSYNC_UNSET_FOR_TEST"))}, "SecretKey is empty"},
		{"bad secondary key", Config{SecretKey: make([]byte, 16), SecondaryKeys: [][]byte{make([]byte, 7)}}, "SecondaryKeys[0]"},
		{"secondary without primary", Config{SecondaryKeys: [][]byte{make([]byte, 16)}}, "SecondaryKeys"},
		{"non-voter with a data dir", Config{NonVoter: true, DataDir: "/tmp/x"}, "NonVoter"},
		{"reserved tag", Config{Tags: map[string]string{"_rpc": "x"}}, "Tags"},
		{"tags over 512 bytes", Config{Tags: map[string]string{"big": strings.Repeat("x", 600)}}, "Tags"},
		{"many small tags over 512 bytes", Config{Tags: manyTags(100)}, "Tags"},
		// 460 bytes fit beside 127.0.0.1's address, not beside the
		// longest private IP New might find for 0.0.0.0.
		{"tags that fit beside the bound IP", Config{BindAddr: "127.0.0.1:0", Tags: map[string]string{"t": strings.Repeat("x", 460)}}, ""},
		{"tags that fit beside the advertised IP", Config{AdvertiseAddr: "10.1.2.3:7946", Tags: map[string]string{"t": strings.Repeat("x", 460)}}, ""},
		{"the same tags beside an unknown IP", Config{BindAddr: "0.0.0.0:0", Tags: map[string]string{"t": strings.Repeat("x", 460)}}, "Tags"},
		{"bad profile", Config{Profile: Profile(9)}, "Profile"},
		{"negative expected size", Config{ExpectedSize: -1}, "ExpectedSize"},
		{"tiny max frame", Config{MaxFrame: 10}, "MaxFrame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to name %s", err, tt.wantErr)
			}
		})
	}
}

func manyTags(n int) map[string]string {
	tags := map[string]string{}
	for i := range n {
		tags[fmt.Sprintf("k%02d", i)] = "v"
	}
	return tags
}

// TestValidateTagsAgreesWithSerf: the largest tag Validate accepts is the
// largest that serf accepts on a running node, so that New never binds
// the address only to fail in serf. Issue 12: Validate did not count the
// size of the tags, and New failed after binding, with "start gossip".
func TestValidateTagsAgreesWithSerf(t *testing.T) {
	cfg := Config{Name: "a", BindAddr: "127.0.0.1:0", Profile: Local}
	tag := func(size int) map[string]string { return map[string]string{"t": strings.Repeat("x", size)} }
	largest := func(ok func(size int) bool) int { // ok holds for 0 and not for 1024
		lo, hi := 0, 1024
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; ok(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		return lo
	}
	byValidate := largest(func(size int) bool {
		c := cfg
		c.Tags = tag(size)
		return c.Validate() == nil
	})
	n := newTestNode(t, "a", nil)
	if _, port, _ := splitAddr(n.Addr()); port < 10000 {
		t.Skipf("port %d: the address is shorter than the one Validate counts", port)
	}
	bySerf := largest(func(size int) bool { return n.SetTags(tag(size)) == nil })
	if byValidate != bySerf {
		t.Errorf("Validate accepts a tag of up to %d bytes, serf up to %d; want the same", byValidate, bySerf)
	}
	c := cfg
	c.Tags = tag(byValidate)
	m, err := New(c)
	if err != nil {
		t.Fatalf("New with the largest tags Validate accepts: %v", err)
	}
	m.Close()
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	if _, err := New(Config{BindAddr: "127.0.0.1:0", SecretKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "SecretKey") {
		t.Fatalf("New with a 5-byte key = %v, want an error naming SecretKey", err)
	}
}

func TestNewPortInUse(t *testing.T) {
	a := newTestNode(t, "a", nil)
	_, err := New(Config{Name: "b", BindAddr: a.Addr(), Profile: Local})
	if err == nil || !strings.Contains(err.Error(), "BindAddr") {
		t.Fatalf("New on a used port = %v, want an error naming BindAddr", err)
	}
}

func TestParseProfile(t *testing.T) {
	for _, p := range []Profile{LAN, WAN, Local} {
		got, err := ParseProfile(p.String())
		if err != nil || got != p {
			t.Errorf("ParseProfile(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	if _, err := ParseProfile("fast"); err == nil {
		t.Error("ParseProfile(fast) = nil error, want one")
	}
}

func TestNewDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	n, err := New(Config{Name: "a", BindAddr: "127.0.0.1:0", Profile: Local, DataDir: dir})
	if err != nil {
		t.Fatalf("New with a DataDir to create: %v", err)
	}
	if n.DataDir() != dir {
		t.Errorf("DataDir() = %q, want %q", n.DataDir(), dir)
	}
	n.Close()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("DataDir after New: %v, %v; want an empty directory", ents, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Name: "b", BindAddr: "127.0.0.1:0", Profile: Local, DataDir: file}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Fatalf("New with a DataDir that is a file = %v, want an error naming DataDir", err)
	}
}
