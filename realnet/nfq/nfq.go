// Package nfq holds back packets that netfilter's NFQUEUE target hands
// to user space and lets each go after a delay of its own: a delaying,
// reordering link for the real-process fault suite, on a kernel without
// the netem qdisc.
//
// It speaks nfnetlink_queue directly over a netlink socket (the message
// layout of linux/netfilter/nfnetlink_queue.h): it binds one queue,
// asks for packet metadata only (the verdict needs the packet's id, not
// its bytes) and answers each packet with NF_ACCEPT once its delay has
// passed. Verdicts may go in any order, so two packets of one flow whose
// delays differ by more than their spacing arrive reordered. A packet
// the kernel cannot queue (the queue is full, or no reader is bound and
// the rule has --queue-bypass) is not delayed; one lost between kernel
// and reader (ENOBUFS) is dropped by the kernel, which is a loss the
// link may have anyway.
//
// The socket belongs to the network namespace the process runs in:
// start the reader in the namespace whose rules queue the packets.
package nfq

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// Netlink and nfnetlink_queue constants (linux/netlink.h,
// linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_queue.h).
const (
	netlinkNetfilter = 12
	subsysQueue      = 3
	msgPacket        = subsysQueue<<8 | 0
	msgVerdict       = subsysQueue<<8 | 1
	msgConfig        = subsysQueue<<8 | 2

	attrCfgCmd    = 1
	attrCfgParams = 2
	attrCfgMaxLen = 3
	attrPacketHdr = 1
	attrVerdict   = 2

	cmdBind     = 1
	cmdUnbind   = 2
	copyMeta    = 1
	nfAccept    = 1
	nlmsgError  = 2
	nlmsgHdrLen = 16
	nfgenLen    = 4
	maxQueueLen = 8192
)

// Queue is one bound NFQUEUE.
type Queue struct {
	fd  int
	num uint16

	mu  sync.Mutex // one verdict write at a time
	seq uint32
}

// Open binds queue num in this process's network namespace.
func Open(num uint16) (*Queue, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return nil, fmt.Errorf("nfq: netlink socket: %w", err)
	}
	q := &Queue{fd: fd, num: num}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("nfq: bind: %w", err)
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	// A timeout on receive lets Run notice its context without closing
	// the socket under a blocked read.
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	params := binary.BigEndian.AppendUint32(nil, 0xffff) // copy range (unused with metadata only)
	params = append(params, copyMeta)
	// One message: the kernel binds the queue, then sets its copy mode
	// and length, before it queues any packet to this socket.
	cfg := attr(attrCfgCmd, []byte{cmdBind, 0, 0, 0})
	cfg = append(cfg, attr(attrCfgParams, params)...)
	cfg = append(cfg, attr(attrCfgMaxLen, binary.BigEndian.AppendUint32(nil, maxQueueLen))...)
	if err := q.request(msgConfig, cfg); err != nil {
		q.Close()
		return nil, fmt.Errorf("nfq: bind queue %d: %w", num, err)
	}
	return q, nil
}

// Close unbinds the queue and closes the socket; call it after Run has
// returned. Packets still held are
// released by the kernel (a queue without a reader drops them, or
// passes them with --queue-bypass).
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fd < 0 {
		return nil
	}
	q.send(msgConfig, 0, attr(attrCfgCmd, []byte{cmdUnbind, 0, 0, 0}))
	err := syscall.Close(q.fd)
	q.fd = -1
	return err
}

// Stats counts what Run did.
type Stats struct {
	Packets  int // packets received
	Released int // verdicts sent
	Errors   int // messages that did not parse or verdicts that failed
}

// Run receives packets until ctx ends and accepts each after
// delay(); held packets are released at once when it returns.
func (q *Queue) Run(ctx context.Context, delay func() time.Duration) (Stats, error) {
	var (
		st      Stats
		stMu    sync.Mutex
		pending sync.WaitGroup
		release = make(chan struct{})
	)
	verdict := func(id uint32) {
		err := q.verdict(id)
		stMu.Lock()
		if err != nil {
			st.Errors++
		} else {
			st.Released++
		}
		stMu.Unlock()
	}
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		n, _, err := syscall.Recvfrom(q.fd, buf, 0)
		if err == syscall.EAGAIN || err == syscall.EINTR || err == syscall.ENOBUFS {
			continue
		}
		if err != nil {
			close(release)
			pending.Wait()
			return st, fmt.Errorf("nfq: receive: %w", err)
		}
		ids, bad := PacketIDs(buf[:n])
		stMu.Lock()
		st.Packets += len(ids)
		st.Errors += bad
		stMu.Unlock()
		for _, id := range ids {
			pending.Add(1)
			go func(id uint32, d time.Duration) {
				defer pending.Done()
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-release:
				}
				verdict(id)
			}(id, delay())
		}
	}
	close(release)
	pending.Wait()
	stMu.Lock()
	defer stMu.Unlock()
	return st, nil
}

// PacketIDs returns the ids of the queued packets in one netlink
// datagram and how many of its messages did not parse. It never panics
// on malformed input.
func PacketIDs(b []byte) (ids []uint32, bad int) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return ids, bad + 1
		}
		msg := b[nlmsgHdrLen:l]
		b = b[min(align(l), len(b)):]
		if typ != msgPacket {
			continue
		}
		if len(msg) < nfgenLen {
			bad++
			continue
		}
		id, ok := packetID(msg[nfgenLen:])
		if !ok {
			bad++
			continue
		}
		ids = append(ids, id)
	}
	return ids, bad
}

// packetID finds NFQA_PACKET_HDR among attributes and reads its id.
func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		typ := binary.NativeEndian.Uint16(attrs[2:4]) & 0x3fff // without the nested and byte-order flags
		if l < 4 || l > len(attrs) {
			return 0, false
		}
		if typ == attrPacketHdr && l >= 8 {
			return binary.BigEndian.Uint32(attrs[4:8]), true
		}
		attrs = attrs[min(align(l), len(attrs)):]
	}
	return 0, false
}

func (q *Queue) verdict(id uint32) error {
	v := binary.BigEndian.AppendUint32(nil, nfAccept)
	v = binary.BigEndian.AppendUint32(v, id)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fd < 0 {
		return errors.New("nfq: closed")
	}
	return q.send(msgVerdict, 0, attr(attrVerdict, v))
}

// request sends a config message asking for an acknowledgement and
// reads it (the kernel answers before any packet is queued to a queue
// that is not yet configured).
func (q *Queue) request(typ uint16, attrs []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.send(typ, syscall.NLM_F_ACK, attrs); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := syscall.Recvfrom(q.fd, buf, 0)
		if err != nil {
			return err
		}
		b := buf[:n]
		for len(b) >= nlmsgHdrLen {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			if l < nlmsgHdrLen || l > len(b) {
				return errors.New("malformed netlink answer")
			}
			if binary.NativeEndian.Uint16(b[4:6]) == nlmsgError && l >= nlmsgHdrLen+4 {
				if code := int32(binary.NativeEndian.Uint32(b[16:20])); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			}
			b = b[min(align(l), len(b)):]
		}
	}
}

// send writes one nfnetlink message to the kernel; q.mu is held.
func (q *Queue) send(typ, flags uint16, attrs []byte) error {
	q.seq++
	m := make([]byte, nlmsgHdrLen, nlmsgHdrLen+nfgenLen+len(attrs))
	binary.NativeEndian.PutUint32(m[0:4], uint32(nlmsgHdrLen+nfgenLen+len(attrs)))
	binary.NativeEndian.PutUint16(m[4:6], typ)
	binary.NativeEndian.PutUint16(m[6:8], syscall.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(m[8:12], q.seq)
	m = append(m, syscall.AF_UNSPEC, 0) // nfgenmsg: family, version
	m = binary.BigEndian.AppendUint16(m, q.num)
	m = append(m, attrs...)
	return syscall.Sendto(q.fd, m, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
}

// attr encodes one netlink attribute, padded to four bytes.
func attr(typ uint16, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func align(n int) int { return (n + 3) &^ 3 }
