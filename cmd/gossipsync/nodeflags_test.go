package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

func TestReadKeyFile(t *testing.T) {
	key16 := []byte("0123456789abcdef")
	key32 := bytes.Repeat([]byte{0xfe}, 32)
	tests := []struct {
		name    string
		content []byte
		want    []byte
		wantErr string
	}{
		{"hex", []byte(hex.EncodeToString(key32) + "\n"), key32, ""},
		{"base64", []byte("  " + base64.StdEncoding.EncodeToString(key32) + "\r\n"), key32, ""},
		{"base64 of 24", []byte(base64.StdEncoding.EncodeToString(key32[:24])), key32[:24], ""},
		{"raw", key16, key16, ""},
		{"raw with a newline byte", append(bytes.Repeat([]byte{0}, 23), '\n'), append(bytes.Repeat([]byte{0}, 23), '\n'), ""},
		{"empty", nil, nil, "holds 0 bytes, not a key"},
		{"hex of 10", []byte(hex.EncodeToString(key32[:10])), nil, "holds 20 bytes, not a key"},
		// 16 hex digits are no key as text, so they are a raw key.
		{"hex of 8 is raw", []byte(hex.EncodeToString(key32[:8])), []byte(hex.EncodeToString(key32[:8])), ""},
		{"too long", bytes.Repeat([]byte{1}, 40), nil, "holds 40 bytes, not a key: want 16, 24 or 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readKeyFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("readKeyFile = %x, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("readKeyFile = %x, %v; want %x", got, err, tt.want)
			}
		})
	}
	if _, err := readKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("readKeyFile of a missing file: no error")
	}
}

// parseNodeFlags registers nodeFlags on a flag set and parses args.
func parseNodeFlags(t *testing.T, args ...string) nodeFlags {
	t.Helper()
	var f nodeFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNodeFlagsConfig(t *testing.T) {
	keyPath := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyPath, []byte(hex.EncodeToString(make([]byte, 16))), 0o600); err != nil {
		t.Fatal(err)
	}
	f := parseNodeFlags(t, "-name", "n1", "-bind", "127.0.0.1:0", "-advertise", "127.0.0.2:7000",
		"-join", "127.0.0.1:1,127.0.0.1:2", "-join", " 127.0.0.1:3 ,", "-key-file", keyPath,
		"-expect", "3", "-voters", "3", "-data-dir", "/tmp/x", "-profile", "local", "-tag", "zone=eu-1", "-tag", "rack=")
	f.nonVoter = true
	cfg, err := f.config()
	if err == nil {
		t.Fatal("a non-voter with a data dir: no error")
	}
	f.dataDir = ""
	if cfg, err = f.config(); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "n1" || cfg.BindAddr != "127.0.0.1:0" || cfg.AdvertiseAddr != "127.0.0.2:7000" || len(cfg.SecretKey) != 16 ||
		cfg.ExpectedSize != 3 || cfg.Voters != 3 || cfg.Profile != cluster.Local || !cfg.NonVoter ||
		len(cfg.Tags) != 2 || cfg.Tags["zone"] != "eu-1" || cfg.Tags["rack"] != "" {
		t.Errorf("config = %+v", cfg)
	}
	if want := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}; !slices.Equal(f.join, want) {
		t.Errorf("-join = %q; want %q", f.join, want)
	}
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-profile", "moon"}, `-profile: unknown profile "moon"`},
		{[]string{"-log-level", "loud"}, `-log-level: unknown level "loud"`},
		{[]string{"-voters", "4"}, "Voters 4: want 0"},
		{[]string{"-bind", "nowhere"}, "BindAddr"},
		{[]string{"-key-file", filepath.Join(t.TempDir(), "none")}, "-key-file: open"},
		{[]string{"-tag", "_v=1"}, `Tags key "_v"`},
	} {
		f := parseNodeFlags(t, tt.args...)
		if _, err := f.config(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q: %v; want an error with %q", tt.args, err, tt.wantErr)
		}
	}
}

// open makes the node and joins; a seed that never answers ends with
// ctx, and the node is closed.
func TestNodeFlagsOpen(t *testing.T) {
	first := parseNodeFlags(t, "-name", "first", "-bind", "127.0.0.1:0", "-profile", "local")
	a, err := first.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	second := parseNodeFlags(t, "-name", "second", "-bind", "127.0.0.1:0", "-profile", "local", "-join", a.Addr())
	second.nonVoter = true
	b, err := second.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.NonVoter() || len(b.MemberNames()) != 2 {
		t.Errorf("second: non-voter %v, members %q; want a non-voter that sees both", b.NonVoter(), b.MemberNames())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	lonely := parseNodeFlags(t, "-name", "lonely", "-bind", "127.0.0.1:0", "-profile", "local", "-join", "127.0.0.1:1")
	lonely.joinRetry = 50 * time.Millisecond
	if n, err := lonely.open(ctx); err == nil {
		n.Close()
		t.Fatal("joined through a seed that does not exist")
	} else if !strings.Contains(err.Error(), "join 127.0.0.1:1: context deadline exceeded") {
		t.Errorf("open: %v; want the join's deadline", err)
	}
}
