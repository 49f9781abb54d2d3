package cluster

import (
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
		{"empty non-nil key", Config{SecretKey: []byte{}}, "SecretKey"},
		{"bad secondary key", Config{SecretKey: make([]byte, 16), SecondaryKeys: [][]byte{make([]byte, 7)}}, "SecondaryKeys[0]"},
		{"secondary without primary", Config{SecondaryKeys: [][]byte{make([]byte, 16)}}, "SecondaryKeys"},
		{"reserved tag", Config{Tags: map[string]string{"_rpc": "x"}}, "Tags"},
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
