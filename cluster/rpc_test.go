package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

var errTestSentinel = errors.New("cluster test: sentinel")

func init() { RegisterError("cluster_test.sentinel", errTestSentinel) }

type echoReq struct{ Text string }
type echoResp struct{ From, Text string }

// rpcPair returns two joined nodes with an echo method on each.
func rpcPair(t testing.TB, key []byte) (a, b *Node) {
	nodes := newTestCluster(t, 2, key)
	for _, n := range nodes {
		HandleFunc(n, "echo", func(ctx context.Context, from string, r echoReq) (echoResp, error) {
			return echoResp{From: from, Text: r.Text}, nil
		})
	}
	return nodes[0], nodes[1]
}

func TestCall(t *testing.T) {
	for _, key := range [][]byte{testKey, nil} {
		t.Run(fmt.Sprintf("key=%v", key != nil), func(t *testing.T) {
			a, b := rpcPair(t, key)
			// b's Join opened a connection to a; a registers its end
			// once its side of the handshake is done, which may be a
			// moment after b's Join returned. A call before that opens
			// a second connection (harmless, but not what this checks).
			waitFor(t, 5*time.Second, "a's end of b's connection", func() bool { return liveConns(a) == 1 })
			var got echoResp
			if err := a.Call(context.Background(), b.Name(), "echo", echoReq{"hi"}, &got); err != nil {
				t.Fatalf("Call: %v", err)
			}
			if want := (echoResp{From: "n0", Text: "hi"}); got != want {
				t.Fatalf("Call reply = %+v, want %+v", got, want)
			}
			// The reverse direction reuses the same connection.
			if err := b.Call(context.Background(), a.Name(), "echo", echoReq{"back"}, &got); err != nil || got.From != "n1" {
				t.Fatalf("reverse Call = %+v, %v", got, err)
			}
			if n := liveConns(a); n != 1 {
				t.Errorf("a has %d connections, want 1 shared by both directions", n)
			}
		})
	}
}

func liveConns(n *Node) int {
	n.rpc.mu.Lock()
	defer n.rpc.mu.Unlock()
	return len(n.rpc.live)
}

func TestCallSelf(t *testing.T) {
	a, _ := rpcPair(t, nil)
	var got echoResp
	if err := a.Call(context.Background(), a.Name(), "echo", echoReq{"me"}, &got); err != nil || got.From != a.Name() {
		t.Fatalf("self Call = %+v, %v", got, err)
	}
}

func TestCallErrors(t *testing.T) {
	a, b := rpcPair(t, testKey)
	b.Handle("sentinel", func(context.Context, *Request) (any, error) {
		return nil, fmt.Errorf("wrapped: %w", errTestSentinel)
	})
	b.Handle("plain", func(context.Context, *Request) (any, error) { return nil, errors.New("no such thing") })
	b.Handle("panic", func(context.Context, *Request) (any, error) { panic("boom") })
	b.Handle("slow", func(ctx context.Context, _ *Request) (any, error) {
		<-ctx.Done() // the caller's deadline travels with the request
		return nil, ctx.Err()
	})
	b.Handle("big", func(context.Context, *Request) (any, error) { return make([]byte, 5<<20), nil })
	tests := []struct {
		name    string
		timeout time.Duration // of the call's ctx, made when the subtest runs; 0 = none
		node    string
		method  string
		req     any
		wantIs  error
		wantMsg string
	}{
		{"registered sentinel", 0, "n1", "sentinel", nil, errTestSentinel, "wrapped"},
		{"plain error", 0, "n1", "plain", nil, nil, "no such thing"},
		{"panic", 0, "n1", "panic", nil, nil, "panicked"},
		{"unknown method", 0, "n1", "nope", nil, ErrUnknownMethod, "nope"},
		{"unknown node", 0, "n9", "echo", nil, ErrUnknownNode, "n9"},
		{"deadline", 200 * time.Millisecond, "n1", "slow", nil, context.DeadlineExceeded, ""},
		{"bad request body", 0, "n1", "echo", 42, nil, "decode request"},
		{"reply too large", 0, "n1", "big", nil, nil, "too large"},
		{"request too large", 0, "n1", "echo", echoReq{strings.Repeat("x", 5<<20)}, nil, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := a.Call(ctx, tt.node, tt.method, tt.req, nil)
			if err == nil {
				t.Fatal("Call succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Call error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Call error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
	// After all that, the connection and the node still serve.
	var got echoResp
	if err := a.Call(context.Background(), "n1", "echo", echoReq{"still"}, &got); err != nil || got.Text != "still" {
		t.Fatalf("Call after errors = %+v, %v", got, err)
	}
}

func TestCallConcurrent(t *testing.T) {
	a, b := rpcPair(t, testKey)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got echoResp
			text := fmt.Sprint(i)
			if err := a.Call(context.Background(), b.Name(), "echo", echoReq{text}, &got); err != nil || got.Text != text {
				errs <- fmt.Errorf("call %d: %+v, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPeerFailureFailsPendingCall(t *testing.T) {
	a, b := rpcPair(t, nil)
	started := make(chan struct{})
	b.Handle("hang", func(ctx context.Context, _ *Request) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, nil
	})
	errc := make(chan error, 1)
	go func() { errc <- a.Call(context.Background(), b.Name(), "hang", nil, nil) }()
	<-started
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrConnLost) {
			t.Fatalf("Call to a closed peer = %v, want ErrConnLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Call to a closed peer still blocked after 10s")
	}
}

// rawRPC opens an RPC stream to n by hand, writing the marker byte.
func rawRPC(t *testing.T, n *Node) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{rpcMarker}); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed fails unless the node closes c (reads end in EOF or reset).
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("node kept the connection open")
	}
}

func frameBytes(t *testing.T, f *wire.Frame) []byte {
	t.Helper()
	body, err := wire.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestBadInputLeavesNodeServing(t *testing.T) {
	a, b := rpcPair(t, nil)
	hello := frameBytes(t, &wire.Frame{Kind: wire.KindHello, Body: mustEncode(t, wire.Hello{Name: "raw", Addr: "127.0.0.1:1"})})
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"oversized length", []byte{0xff, 0xff, 0xff, 0xff, 1}},
		{"truncated frame", []byte{0, 0, 0, 9, wire.Version}},
		{"wrong version", []byte{0, 0, 0, 2, 99, byte(wire.KindHello)}},
		{"request before hello", frameBytes(t, &wire.Frame{Kind: wire.KindRequest, ID: 1, Method: "echo"})},
		{"hello then garbage", append(hello, 0, 0, 0, 3, 1, 2, 3)},
		{"hello then oversized", append(hello, 0x7f, 0xff, 0xff, 0xff)},
		{"hello then unexpected kind", append(hello, frameBytes(t, &wire.Frame{Kind: wire.KindAuth})...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawRPC(t, b)
			c.Write(tt.bytes)
			c.(*net.TCPConn).CloseWrite() // a truncated frame ends in EOF, not a timeout
			expectClosed(t, c)
		})
	}
	var got echoResp
	if err := a.Call(context.Background(), b.Name(), "echo", echoReq{"ok"}, &got); err != nil || got.Text != "ok" {
		t.Fatalf("Call after bad input = %+v, %v", got, err)
	}
}

func mustEncode(t *testing.T, v any) []byte {
	b, err := wire.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A dialer that speaks the protocol but holds another key is refused
// before any method runs, and so is a forged MAC.
func TestWrongKeyCannotCall(t *testing.T) {
	_, b := rpcPair(t, testKey)
	ran := make(chan struct{}, 1)
	b.Handle("secret", func(context.Context, *Request) (any, error) { ran <- struct{}{}; return "x", nil })
	for _, key := range [][]byte{[]byte("fedcba9876543210fedcba9876543210"), nil} {
		c := rawRPC(t, b)
		var keys [][]byte
		if key != nil {
			keys = [][]byte{key}
		}
		hs := &handshaker{self: wire.Hello{Name: "thief", Addr: "127.0.0.1:1"}, keys: keys, maxFrame: wire.DefaultMaxFrame}
		_, _, err := hs.dial(c)
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("handshake with key %v = %v, want ErrAuth", key != nil, err)
		}
		// Whatever follows is not served.
		c.Write(frameBytes(t, &wire.Frame{Kind: wire.KindRequest, ID: 1, Method: "secret"}))
		expectClosed(t, c)
	}
	select {
	case <-ran:
		t.Fatal("a method ran for an unauthenticated caller")
	default:
	}
}

func TestSecondaryKeyAccepted(t *testing.T) {
	oldKey, newKey := testKey, []byte("fedcba9876543210fedcba9876543210")
	a, err := New(Config{Name: "a", BindAddr: "127.0.0.1:0", Profile: Local, SecretKey: newKey, SecondaryKeys: [][]byte{oldKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	HandleFunc(a, "echo", func(ctx context.Context, from string, r echoReq) (echoResp, error) {
		return echoResp{from, r.Text}, nil
	})
	// Mid-rotation: a already sends with the new key, b still with the
	// old one; each holds the other as a secondary key.
	b, err := New(Config{Name: "b", BindAddr: "127.0.0.1:0", Profile: Local, SecretKey: oldKey, SecondaryKeys: [][]byte{newKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Join(context.Background(), a.Addr()); err != nil {
		t.Fatalf("join mid-rotation: %v", err)
	}
	waitFor(t, 5*time.Second, "b sees a", func() bool { return len(b.Members()) == 2 })
	if err := b.Call(context.Background(), "a", "echo", echoReq{"rotating"}, nil); err != nil {
		t.Fatalf("Call under a secondary key: %v", err)
	}
}

func BenchmarkCall(b *testing.B) {
	for _, key := range [][]byte{nil, testKey} {
		b.Run(fmt.Sprintf("key=%v", key != nil), func(b *testing.B) {
			x, y := rpcPair(b, key)
			ctx := context.Background()
			var got echoResp
			if err := x.Call(ctx, y.Name(), "echo", echoReq{"warm"}, &got); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := x.Call(ctx, y.Name(), "echo", echoReq{"ping"}, &got); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// countStamper stamps frames with its name and records what it observes.
type countStamper struct {
	name string
	mu   sync.Mutex
	seen map[string]string // peer -> last stamp
}

func (s *countStamper) Stamp() []byte { return []byte(s.name) }

func (s *countStamper) Observe(peer string, stamp []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[peer] = string(stamp)
}

func (s *countStamper) last(peer string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[peer]
}

func TestStamperRidesEveryFrame(t *testing.T) {
	a, b := rpcPair(t, testKey)
	sa := &countStamper{name: "from-a", seen: map[string]string{}}
	sb := &countStamper{name: "from-b", seen: map[string]string{}}
	a.SetStamper(sa)
	b.SetStamper(sb)
	if err := a.Call(context.Background(), b.Name(), "echo", echoReq{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := sb.last(a.Name()); got != "from-a" {
		t.Errorf("b observed %q on the request, want from-a", got)
	}
	if got := sa.last(b.Name()); got != "from-b" {
		t.Errorf("a observed %q on the reply, want from-b", got)
	}
	a.SetStamper(nil)
}

// Canceling a call (not a deadline) cancels the handler's ctx on the
// remote node too.
func TestCancelReachesHandler(t *testing.T) {
	a, b := rpcPair(t, testKey)
	started, canceled := make(chan struct{}), make(chan struct{})
	b.Handle("wait", func(ctx context.Context, _ *Request) (any, error) {
		close(started)
		<-ctx.Done()
		close(canceled)
		return nil, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Call(ctx, b.Name(), "wait", nil, nil) }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Call = %v, want context.Canceled", err)
	}
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the remote handler's ctx was not canceled within 10s")
	}
}
