package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"

	"github.com/gossipsync/gossipsync/internal/wire"
)

// How the secret key protects RPC.
//
// A node with a SecretKey authenticates every RPC connection with a mutual
// challenge before any method runs, then encrypts every frame:
//
//  1. dialer -> listener  hello{name, addr, auth, nonceD}
//  2. listener -> dialer  hello-ack{name, addr, auth, nonceL}
//  3. dialer -> listener  auth{HMAC-SHA256(key, "d" | nonceD | nonceL | names)}
//  4. listener -> dialer  auth-ok{HMAC-SHA256(key, "l" | nonceD | nonceL | names)}
//
// The listener accepts the dialer's MAC under any of its keys (the primary
// and the secondary ones), which is what makes key rotation possible. Each
// direction then gets its own AES-256-GCM key, HMAC-SHA256(key, label |
// nonceD | nonceL), with a frame counter as the GCM nonce: frames cannot be
// read, changed, replayed or reordered without the key. Fresh nonces on both
// sides make every connection's keys new.
//
// Without a SecretKey only steps 1 and 2 run and frames go in the clear. A
// node with a key refuses a peer without one, and the other way round.

const nonceSize = 32

// sealer encrypts outgoing and decrypts incoming frame bodies of one
// connection. A nil *sealer passes bodies through. seal must be called in
// the order frames are written, open in the order they are read.
type sealer struct {
	send, recv       cipher.AEAD
	sendSeq, recvSeq uint64
}

func newSealer(key, nonceD, nonceL []byte, dialer bool) (*sealer, error) {
	d2l, err := newAEAD(mac(key, "gossipsync/1 d2l", nonceD, nonceL))
	if err != nil {
		return nil, err
	}
	l2d, err := newAEAD(mac(key, "gossipsync/1 l2d", nonceD, nonceL))
	if err != nil {
		return nil, err
	}
	if dialer {
		return &sealer{send: d2l, recv: l2d}, nil
	}
	return &sealer{send: l2d, recv: d2l}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seqNonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// appendSealed appends body, sealed under the next send sequence number,
// to dst.
func (s *sealer) appendSealed(dst, body []byte) []byte {
	if s == nil {
		return append(dst, body...)
	}
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], s.sendSeq)
	out := s.send.Seal(dst, nonce[:], body, nil)
	s.sendSeq++
	return out
}

// overhead is how many bytes seal adds to a body.
func (s *sealer) overhead() int {
	if s == nil {
		return 0
	}
	return s.send.Overhead()
}

func (s *sealer) open(body []byte) ([]byte, error) {
	if s == nil {
		return body, nil
	}
	out, err := s.recv.Open(nil, seqNonce(s.recvSeq), body, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: frame failed authentication", ErrBadFrame)
	}
	s.recvSeq++
	return out, nil
}

// mac is HMAC-SHA256 of the length-prefixed parts under key.
func mac(key []byte, label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, nonceSize)
	rand.Read(b)
	return b
}

// handshaker holds what both sides of a handshake need.
type handshaker struct {
	self     wire.Hello
	keys     [][]byte // primary first; empty = open cluster
	maxFrame int
	// check vets the dialer's hello on the listening side (name conflicts).
	check func(peer wire.Hello, remote net.Addr) error
}

// dial runs the dialer's side of the handshake on conn.
func (h *handshaker) dial(conn net.Conn) (wire.Hello, *sealer, error) {
	hello := h.self
	hello.Auth = len(h.keys) > 0
	hello.Nonce = newNonce()
	if err := writeHandshake(conn, wire.KindHello, hello); err != nil {
		return wire.Hello{}, nil, err
	}
	var peer wire.Hello
	if err := readHandshake(conn, h.maxFrame, wire.KindHelloAck, &peer); err != nil {
		return wire.Hello{}, nil, err
	}
	if peer.Auth != hello.Auth {
		return peer, nil, authMismatch(hello, peer)
	}
	if !hello.Auth {
		return peer, nil, nil
	}
	key := h.keys[0]
	names := []byte(hello.Name + "\x00" + peer.Name)
	if err := writeHandshake(conn, wire.KindAuth, mac(key, "d", hello.Nonce, peer.Nonce, names)); err != nil {
		return peer, nil, err
	}
	var proof []byte
	if err := readHandshake(conn, h.maxFrame, wire.KindAuthOK, &proof); err != nil {
		return peer, nil, err
	}
	if !hmac.Equal(proof, mac(key, "l", hello.Nonce, peer.Nonce, names)) {
		return peer, nil, fmt.Errorf("%w: peer %s does not hold this cluster's secret key", ErrAuth, peer.Name)
	}
	s, err := newSealer(key, hello.Nonce, peer.Nonce, true)
	return peer, s, err
}

// accept runs the listener's side of the handshake on conn. On failure it
// tells the dialer why before returning.
func (h *handshaker) accept(conn net.Conn) (wire.Hello, *sealer, error) {
	var peer wire.Hello
	if err := readHandshake(conn, h.maxFrame, wire.KindHello, &peer); err != nil {
		return peer, nil, err
	}
	self := h.self
	self.Auth = len(h.keys) > 0
	self.Nonce = newNonce()
	if peer.Auth != self.Auth {
		return peer, nil, refuse(conn, authMismatch(self, peer))
	}
	if err := h.check(peer, conn.RemoteAddr()); err != nil {
		return peer, nil, refuse(conn, err)
	}
	if err := writeHandshake(conn, wire.KindHelloAck, self); err != nil {
		return peer, nil, err
	}
	if !self.Auth {
		return peer, nil, nil
	}
	var proof []byte
	if err := readHandshake(conn, h.maxFrame, wire.KindAuth, &proof); err != nil {
		return peer, nil, err
	}
	names := []byte(peer.Name + "\x00" + self.Name)
	for _, key := range h.keys {
		if hmac.Equal(proof, mac(key, "d", peer.Nonce, self.Nonce, names)) {
			err := writeHandshake(conn, wire.KindAuthOK, mac(key, "l", peer.Nonce, self.Nonce, names))
			if err != nil {
				return peer, nil, err
			}
			s, err := newSealer(key, peer.Nonce, self.Nonce, false)
			return peer, s, err
		}
	}
	return peer, nil, refuse(conn, fmt.Errorf("%w: %s does not hold this cluster's secret key", ErrAuth, peer.Name))
}

// authMismatch explains that one of two nodes has a key and the other
// none, naming both so the text reads right on either side.
func authMismatch(a, b wire.Hello) error {
	if !a.Auth {
		a, b = b, a
	}
	return fmt.Errorf("%w: %s has a secret key and %s has none", ErrAuth, a.Name, b.Name)
}

// refuse sends err to the dialer as an error frame and returns err.
func refuse(conn net.Conn, err error) error {
	body, mErr := wire.Marshal(&wire.Frame{Kind: wire.KindError, Code: codeOf(err), Message: err.Error()})
	if mErr == nil {
		wire.WriteFrame(conn, body)
	}
	return err
}

func writeHandshake(conn net.Conn, kind wire.Kind, v any) error {
	payload, err := wire.Encode(v)
	if err != nil {
		return err
	}
	body, err := wire.Marshal(&wire.Frame{Kind: kind, Body: payload})
	if err != nil {
		return err
	}
	return wire.WriteFrame(conn, body)
}

// readHandshake reads one handshake frame of the wanted kind into v. An
// error frame from the peer comes back as the peer's error.
func readHandshake(conn net.Conn, max int, want wire.Kind, v any) error {
	body, err := wire.ReadFrame(conn, max)
	if err != nil {
		return fmt.Errorf("%w: handshake: %v", ErrBadFrame, err)
	}
	f, err := wire.Unmarshal(body)
	if err != nil {
		return fmt.Errorf("%w: handshake: %v", ErrBadFrame, err)
	}
	if f.Kind == wire.KindError {
		return &RemoteError{Node: conn.RemoteAddr().String(), Method: "handshake", Code: f.Code, Message: f.Message}
	}
	if f.Kind != want {
		return fmt.Errorf("%w: handshake: got %v, want %v", ErrBadFrame, f.Kind, want)
	}
	if err := wire.Decode(f.Body, v); err != nil {
		return fmt.Errorf("%w: handshake: %v", ErrBadFrame, err)
	}
	return nil
}
