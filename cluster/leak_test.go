package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// leakCluster starts three keyed nodes with names long enough that they
// cannot turn up by chance in random bytes, joined through the first.
func leakCluster(t *testing.T) []*Node {
	t.Helper()
	return newNamedCluster(t, testKey, "leak-target-node", "leak-live-member-1", "leak-live-member-2")
}

// memberSecrets lists what a client without the key must not learn: every
// member's name and address (RPC and gossip), and their ports.
func memberSecrets(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name(), n.Addr())
		if a, ok := nodes[0].rpcAddr(n.Name()); ok && a != n.Addr() {
			out = append(out, a)
		}
		_, port, _ := net.SplitHostPort(n.Addr())
		out = append(out, port)
	}
	return out
}

// probeFrame is one handshake frame a probe received.
type probeFrame struct {
	frame *wire.Frame
	hello wire.Hello // decoded when frame is a hello-ack or auth-ok
}

// probeHandshake opens an RPC stream to target, sends hello and, when the
// target answers with a hello-ack and hello claims a key, a MAC made of
// random bytes (a key it does not have). It reads until the target closes
// the stream and returns every byte received and the frames they hold.
func probeHandshake(t *testing.T, target *Node, hello wire.Hello) ([]byte, []probeFrame) {
	t.Helper()
	c, err := net.DialTimeout("tcp", target.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	r := io.TeeReader(c, &got)
	send := func(kind wire.Kind, v any) {
		payload, err := wire.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		body, err := wire.Marshal(&wire.Frame{Kind: kind, Body: payload})
		if err != nil {
			t.Fatal(err)
		}
		if err := wire.WriteFrame(c, body); err != nil {
			t.Fatalf("write %v: %v", kind, err)
		}
	}
	c.Write([]byte{rpcMarker})
	send(wire.KindHello, hello)
	var frames []probeFrame
	for {
		body, err := wire.ReadFrame(r, wire.DefaultMaxFrame)
		if err != nil {
			break
		}
		f, err := wire.Unmarshal(body)
		if err != nil {
			t.Fatalf("target sent a malformed frame: %v", err)
		}
		pf := probeFrame{frame: f}
		if f.Kind == wire.KindHelloAck || f.Kind == wire.KindAuthOK {
			if err := wire.Decode(f.Body, &pf.hello); err != nil {
				t.Fatalf("target sent a malformed %v: %v", f.Kind, err)
			}
		}
		frames = append(frames, pf)
		if f.Kind == wire.KindHelloAck && hello.Auth {
			send(wire.KindAuth, randomBytes(32))
		}
	}
	io.Copy(io.Discard, r) // whatever else arrives counts too
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("target kept the stream open")
	}
	return got.Bytes(), frames
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// A client without the key, or one that claims a key it does not have,
// learns no member's name or address from a keyed node, whatever name it
// gives: before the key proof, the node answers only a hello-ack without
// name or address, and refusals that name nobody.
func TestNoMemberLeaksBeforeTheKeyProof(t *testing.T) {
	nodes := leakCluster(t)
	target, live := nodes[0], nodes[1]
	secrets := memberSecrets(nodes)
	tests := []struct {
		name  string
		hello wire.Hello
	}{
		{"no key, the target's name", wire.Hello{Name: target.Name(), Addr: "127.0.0.1:1"}},
		{"no key, a live member's name", wire.Hello{Name: live.Name(), Addr: "127.0.0.1:1"}},
		{"no key, a live member's name and address", wire.Hello{Name: live.Name(), Addr: live.Addr()}},
		{"no key, a new name", wire.Hello{Name: "stranger", Addr: "127.0.0.1:1"}},
		{"no key, an invalid name", wire.Hello{Name: "", Addr: "127.0.0.1:1"}},
		{"claims a key, the target's name", wire.Hello{Name: target.Name(), Addr: "127.0.0.1:1", Auth: true, Nonce: randomBytes(nonceSize)}},
		{"claims a key, a live member's name", wire.Hello{Name: live.Name(), Addr: "127.0.0.1:1", Auth: true, Nonce: randomBytes(nonceSize)}},
		{"claims a key, a live member's name and address", wire.Hello{Name: live.Name(), Addr: live.Addr(), Auth: true, Nonce: randomBytes(nonceSize)}},
		{"claims a key, a new name", wire.Hello{Name: "stranger", Addr: "127.0.0.1:1", Auth: true, Nonce: randomBytes(nonceSize)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, frames := probeHandshake(t, target, tt.hello)
			for _, s := range secrets {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("the client received %q (a member's name, address or port) in %q", s, raw)
				}
			}
			if len(frames) == 0 {
				t.Fatal("no answer at all; want a refusal that says why")
			}
			for _, f := range frames {
				switch f.frame.Kind {
				case wire.KindHelloAck:
					if f.hello.Name != "" || f.hello.Addr != "" {
						t.Errorf("hello-ack before the key proof names %q at %q, want neither", f.hello.Name, f.hello.Addr)
					}
				case wire.KindError:
					if f.frame.Code != "cluster.auth" {
						t.Errorf("refusal %q has code %q, want cluster.auth", f.frame.Message, f.frame.Code)
					}
				default:
					t.Errorf("the client received a %v frame, want only hello-ack and error", f.frame.Kind)
				}
			}
			if last := frames[len(frames)-1].frame; last.Kind != wire.KindError {
				t.Errorf("last frame is %v, want the refusal", last.Kind)
			}
		})
	}
	var got echoResp
	HandleFunc(target, "leak.echo", func(_ context.Context, from string, r echoReq) (echoResp, error) { return echoResp{from, r.Text}, nil })
	if err := live.Call(context.Background(), target.Name(), "leak.echo", echoReq{"still serving"}, &got); err != nil {
		t.Fatalf("Call after the probes: %v", err)
	}
}

// Once a dialer has proven the key, a name conflict is refused with
// ErrDuplicateName and its details, and an accepted dialer learns the
// listener's name and address from the listener's proof.
func TestKeyHolderGetsClearAnswers(t *testing.T) {
	nodes := leakCluster(t)
	target, live := nodes[0], nodes[1]
	dial := func(t *testing.T, name, addr string, key []byte) (wire.Hello, error) {
		t.Helper()
		c, err := net.DialTimeout("tcp", target.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte{rpcMarker})
		hs := &handshaker{self: wire.Hello{Name: name, Addr: addr}, keys: [][]byte{key}, maxFrame: maxHandshakeFrame}
		peer, _, err := hs.dial(c)
		return peer, err
	}
	tests := []struct {
		name, claim, addr string
		key               []byte
		wantIs            error
		wantMsg           []string // in the error, or in the listener's hello
	}{
		{"a live member's name", live.Name(), "127.0.0.1:1", testKey, ErrDuplicateName, []string{live.Name(), live.Addr()}},
		{"the target's name", target.Name(), "127.0.0.1:1", testKey, ErrDuplicateName, []string{target.Name(), target.Addr()}},
		{"another key", "stranger", "127.0.0.1:1", []byte("fedcba9876543210fedcba9876543210"), ErrAuth, []string{"secret key"}},
		{"a new name", "newcomer", "127.0.0.1:1", testKey, nil, []string{target.Name(), target.Addr()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, err := dial(t, tt.claim, tt.addr, tt.key)
			text := fmt.Sprint(err)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				text = peer.Name + " " + peer.Addr
			} else if !errors.Is(err, tt.wantIs) {
				t.Fatalf("handshake error = %v, want %v", err, tt.wantIs)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(text, s) {
					t.Errorf("%q does not mention %q", text, s)
				}
			}
		})
	}
	// A wrong key is refused without naming any member (the dialer's
	// error gives the address it dialed, which it knew).
	if _, err := dial(t, "stranger", "127.0.0.1:1", []byte("fedcba9876543210fedcba9876543210")); err != nil {
		for _, n := range nodes {
			if strings.Contains(err.Error(), n.Name()) {
				t.Errorf("wrong-key refusal %q names %q", err, n.Name())
			}
		}
	}
}
