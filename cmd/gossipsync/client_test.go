package main

import (
	"io"
	"testing"
)

// Without -bind, a lock or elect command binds the address it reaches its
// first seed from: a loopback seed, loopback.
func TestClientDefaults(t *testing.T) {
	t.Setenv(envJoin, "127.0.0.2:7946,127.0.0.3:7946")
	t.Setenv(envKeyFile, "/some/key")
	for _, tt := range []struct {
		args []string
		bind string
		join string
	}{
		{nil, "127.0.0.1:0", "127.0.0.2:7946,127.0.0.3:7946"},
		{[]string{"-join", "127.0.0.9:7000"}, "127.0.0.1:0", "127.0.0.9:7000"},
		{[]string{"-bind", "127.0.0.5:0"}, "127.0.0.5:0", "127.0.0.2:7946,127.0.0.3:7946"},
		{[]string{"-join", "dnssrv+_gossip._tcp.example.invalid"}, "0.0.0.0:0", "dnssrv+_gossip._tcp.example.invalid"},
	} {
		fs, nf := clientFlags("lock", lockUsage, io.Discard)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := nf.clientDefaults(fs); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if nf.bind != tt.bind || nf.join.String() != tt.join || nf.keyFile != "/some/key" || !nf.nonVoter {
			t.Errorf("%v: bind %q, join %q, key file %q, non-voter %v; want %q, %q, /some/key, true", tt.args, nf.bind, nf.join.String(), nf.keyFile, nf.nonVoter, tt.bind, tt.join)
		}
	}
}
