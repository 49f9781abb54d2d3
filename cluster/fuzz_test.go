package cluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// FuzzRPCStream feeds arbitrary bytes to a node as an inbound RPC stream
// (after the marker byte) and checks that the node survives and still
// serves calls. It covers the handshake and frame decoders as the node
// runs them, with and without a secret key.
func FuzzRPCStream(f *testing.F) {
	hello, _ := wire.Encode(wire.Hello{Name: "fuzz", Addr: "127.0.0.1:1"})
	helloAuth, _ := wire.Encode(wire.Hello{Name: "fuzz", Addr: "127.0.0.1:1", Auth: true, Nonce: make([]byte, 32)})
	frame := func(fr *wire.Frame) []byte {
		body, _ := wire.Marshal(fr)
		return append([]byte{0, 0, 0, byte(len(body))}, body...)
	}
	f.Add(false, frame(&wire.Frame{Kind: wire.KindHello, Body: hello}))
	f.Add(false, append(frame(&wire.Frame{Kind: wire.KindHello, Body: hello}), frame(&wire.Frame{Kind: wire.KindRequest, ID: 1, Method: "echo", Body: []byte{0x80}})...))
	f.Add(true, frame(&wire.Frame{Kind: wire.KindHello, Body: helloAuth}))
	f.Add(true, append(frame(&wire.Frame{Kind: wire.KindHello, Body: helloAuth}), frame(&wire.Frame{Kind: wire.KindAuth, Body: []byte{0xc4, 1, 0}})...))
	f.Add(false, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(false, []byte{0, 0, 0, 2, 1, 4})

	nodes := map[bool]*Node{}
	var once sync.Once
	setup := func(t *testing.T) {
		for _, keyed := range []bool{false, true} {
			var key []byte
			if keyed {
				key = testKey
			}
			n, err := New(Config{Name: "target", BindAddr: "127.0.0.1:0", Profile: Local, SecretKey: key})
			if err != nil {
				t.Fatal(err)
			}
			HandleFunc(n, "echo", func(_ context.Context, _ string, s string) (string, error) { return s, nil })
			nodes[keyed] = n
		}
	}
	f.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
	})
	f.Fuzz(func(t *testing.T, keyed bool, data []byte) {
		once.Do(func() { setup(t) })
		n := nodes[keyed]
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.acceptRPC(server, func() bool { return true })
		}()
		client.SetDeadline(time.Now().Add(time.Second))
		go func() {
			client.Write(data)
			client.Close()
		}()
		<-done
		var got string
		if err := n.Call(context.Background(), n.Name(), "echo", "alive", &got); err != nil || got != "alive" {
			t.Fatalf("node stopped serving: %q, %v", got, err)
		}
	})
}
