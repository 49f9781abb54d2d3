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
//  2. listener -> dialer  hello-ack{auth, nonceL}
//  3. dialer -> listener  auth{HMAC-SHA256(key, "d" | nonceD | nonceL | dname "\x00")}
//  4. listener -> dialer  auth-ok{name, addr, HMAC-SHA256(key, "l" | nonceD | nonceL | dname "\x00" lname)}
//
// The listener says nothing about itself or the cluster before the
// dialer's proof (step 3): its hello-ack carries no name and no address,
// a dialer without the key is refused with a message that names nobody,
// and the dialer's name is checked against the members (check) only
// after the proof, so that its refusal (ErrDuplicateName, with the
// member's address) goes to key holders only. The listener's name and
// address come back with its own proof, which binds both names. (Step 3
// binds the names exchanged so far: the dialer's, and the empty one of
// the hello-ack.)
//
// The listener accepts the dialer's MAC under any of its keys (the primary
// and the secondary ones), which is what makes key rotation possible. Each
// direction then gets its own AES-256-GCM key, HMAC-SHA256(key, label |
// nonceD | nonceL), with a frame counter as the GCM nonce: frames cannot be
// read, changed, replayed or reordered without the key. Fresh nonces on both
// sides make every connection's keys new.
//
// What the proof shows is that the peer holds the cluster's key, not
// which node it is: the names are what each side says it is.
//
// Without a SecretKey the cluster is open: the listener checks the
// dialer's name at once and answers hello-ack{name, addr}, and frames go
// in the clear. A node with a key refuses a peer without one, and the
// other way round.

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

// Refusals before the dialer has proven the key. They name nobody: a
// dialer without the key learns only that this node wants one (or none).
var (
	errKeyRequired = fmt.Errorf("%w: the listener requires the cluster's secret key and the dialer has none", ErrAuth)
	errKeyNotUsed  = fmt.Errorf("%w: the listener has no secret key and the dialer has one", ErrAuth)
	errWrongKey    = fmt.Errorf("%w: the dialer does not hold this cluster's secret key", ErrAuth)
)

// handshaker holds what both sides of a handshake need.
type handshaker struct {
	self     wire.Hello
	keys     [][]byte // primary first; empty = open cluster
	maxFrame int
	// check vets the dialer's hello on the listening side (name
	// conflicts). With a key it runs only after the dialer's proof, and
	// its error goes back to the dialer.
	check func(peer wire.Hello, remote net.Addr) error
}

// handshakeNames is what the MACs bind: the dialer's name and the
// listener's, as exchanged.
func handshakeNames(dialer, listener string) []byte {
	return []byte(dialer + "\x00" + listener)
}

// dial runs the dialer's side of the handshake on conn. It returns the
// listener's hello: its name and address, as the listener states them.
func (h *handshaker) dial(conn net.Conn) (wire.Hello, *sealer, error) {
	hello := h.self
	hello.Auth = len(h.keys) > 0
	hello.Nonce = newNonce()
	if err := writeHandshake(conn, wire.KindHello, hello); err != nil {
		return wire.Hello{}, nil, err
	}
	var ack wire.Hello
	if err := readHandshake(conn, h.maxFrame, wire.KindHelloAck, &ack); err != nil {
		return wire.Hello{}, nil, err
	}
	if ack.Auth != hello.Auth {
		return ack, nil, keyMismatch(conn, hello.Auth)
	}
	if !hello.Auth {
		return ack, nil, nil
	}
	key := h.keys[0]
	if err := writeHandshake(conn, wire.KindAuth, mac(key, "d", hello.Nonce, ack.Nonce, handshakeNames(hello.Name, ack.Name))); err != nil {
		return wire.Hello{}, nil, err
	}
	var peer wire.Hello
	if err := readHandshake(conn, h.maxFrame, wire.KindAuthOK, &peer); err != nil {
		return wire.Hello{}, nil, err
	}
	if !hmac.Equal(peer.Proof, mac(key, "l", hello.Nonce, ack.Nonce, handshakeNames(hello.Name, peer.Name))) {
		return wire.Hello{}, nil, fmt.Errorf("%w: the node at %s does not hold this cluster's secret key", ErrAuth, conn.RemoteAddr())
	}
	peer.Auth, peer.Nonce, peer.Proof = true, ack.Nonce, nil
	s, err := newSealer(key, hello.Nonce, ack.Nonce, true)
	return peer, s, err
}

// accept runs the listener's side of the handshake on conn. On failure it
// tells the dialer why before returning; before the dialer's proof, that
// answer names nobody (see the top of this file).
func (h *handshaker) accept(conn net.Conn) (wire.Hello, *sealer, error) {
	var peer wire.Hello
	if err := readHandshake(conn, h.maxFrame, wire.KindHello, &peer); err != nil {
		return peer, nil, err
	}
	keyed := len(h.keys) > 0
	switch {
	case keyed && !peer.Auth:
		return peer, nil, refuse(conn, errKeyRequired)
	case !keyed && peer.Auth:
		return peer, nil, refuse(conn, errKeyNotUsed)
	case keyed:
		return h.acceptKeyed(conn, peer)
	}
	// An open cluster: anyone who can reach it may join and list the
	// members, so there is nothing to hide.
	if err := h.check(peer, conn.RemoteAddr()); err != nil {
		return peer, nil, refuse(conn, err)
	}
	self := h.self
	self.Auth, self.Nonce = false, newNonce()
	return peer, nil, writeHandshake(conn, wire.KindHelloAck, self)
}

// acceptKeyed runs steps 2 to 4 of the handshake for the dialer's hello.
func (h *handshaker) acceptKeyed(conn net.Conn, peer wire.Hello) (wire.Hello, *sealer, error) {
	nonce := newNonce()
	if err := writeHandshake(conn, wire.KindHelloAck, wire.Hello{Auth: true, Nonce: nonce}); err != nil {
		return peer, nil, err
	}
	var proof []byte
	if err := readHandshake(conn, h.maxFrame, wire.KindAuth, &proof); err != nil {
		return peer, nil, err
	}
	var key []byte
	names := handshakeNames(peer.Name, "")
	for _, k := range h.keys {
		if hmac.Equal(proof, mac(k, "d", peer.Nonce, nonce, names)) {
			key = k
			break
		}
	}
	if key == nil {
		return peer, nil, refuse(conn, errWrongKey)
	}
	if err := h.check(peer, conn.RemoteAddr()); err != nil {
		return peer, nil, refuse(conn, err)
	}
	self := h.self
	self.Auth, self.Nonce = true, nil
	self.Proof = mac(key, "l", peer.Nonce, nonce, handshakeNames(peer.Name, self.Name))
	if err := writeHandshake(conn, wire.KindAuthOK, self); err != nil {
		return peer, nil, err
	}
	s, err := newSealer(key, peer.Nonce, nonce, false)
	return peer, s, err
}

// keyMismatch is the dialer's error when one side has a key and the
// other none.
func keyMismatch(conn net.Conn, dialerKeyed bool) error {
	if dialerKeyed {
		return fmt.Errorf("%w: this node has a secret key and the node at %s has none", ErrAuth, conn.RemoteAddr())
	}
	return fmt.Errorf("%w: the node at %s has a secret key and this node has none", ErrAuth, conn.RemoteAddr())
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
