package simnet

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// readWithin reads len(want) bytes from c, giving up after d.
func readWithin(c net.Conn, want string, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, len(want))
	n, err := io.ReadFull(c, buf)
	return string(buf[:n]), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestBlackHoleHoldsStreams: with SetBlackHole a partition resets
// nothing: a read across it times out, writes queue, and after the heal
// the data arrives in order within one held span; a crash still resets.
func TestBlackHoleHoldsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		n.SetBlackHole(true)
		c, s := connect(t, n, ipA, ipC)
		n.Partition([]string{ipA, ipB}, []string{ipC})
		cutAt := time.Now()
		if _, err := c.Write([]byte("one")); err != nil {
			t.Fatalf("Write into a black hole: %v; want it queued", err)
		}
		if _, err := readWithin(s, "one", 2*time.Second); !isTimeout(err) {
			t.Fatalf("Read across a black-holing cut: %v; want a timeout", err)
		}
		c.Write([]byte("two"))
		if _, err := net.Conn(s).Write([]byte("back")); err != nil {
			t.Fatalf("Write the other way: %v", err)
		}
		if _, err := readWithin(c, "back", time.Second); !isTimeout(err) {
			t.Fatalf("Read the other way: %v; want a timeout", err)
		}
		healed := time.Now()
		held := healed.Sub(cutAt)
		n.Heal()
		got, err := readWithin(s, "onetwo", held+time.Second)
		if err != nil || got != "onetwo" {
			t.Fatalf("after the heal: read %q, %v; want \"onetwo\"", got, err)
		}
		if waited := time.Since(healed); waited > held {
			t.Errorf("the held data came %v after the heal; want at most the %v it was held", waited, held)
		}
		if got, err := readWithin(c, "back", held+time.Second); err != nil || got != "back" {
			t.Fatalf("after the heal, the other way: read %q, %v", got, err)
		}
		n.SetDown(ipC, true)
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Write to a crashed host: %v; want a connection reset", err)
		}
	})
}

// TestBlackHoleOneWay: a Block from a to c holds what a writes to c;
// what c writes to a still arrives.
func TestBlackHoleOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		n.SetBlackHole(true)
		c, s := connect(t, n, ipA, ipC)
		n.Block(ipA, ipC)
		if err := transfer(s, c, "from c"); err != nil {
			t.Errorf("c to a across a one-way cut from a: %v; want it delivered", err)
		}
		c.Write([]byte("from a"))
		if _, err := readWithin(s, "from a", time.Second); !isTimeout(err) {
			t.Errorf("a to c across the cut: %v; want a timeout", err)
		}
		n.Heal()
		if got, err := readWithin(s, "from a", 5*time.Second); err != nil {
			t.Errorf("after the heal: read %q, %v", got, err)
		}
	})
}

// TestStreamLossRetransmits: on a link that loses packets, no byte of a
// stream is lost and none is reordered, but some writes wait for a
// retransmission timeout (200 ms or more); without loss none does.
func TestStreamLossRetransmits(t *testing.T) {
	for _, loss := range []float64{0, 0.3} {
		synctest.Test(t, func(t *testing.T) {
			n := New(7)
			n.SetLoss(loss)
			c, s := connect(t, n, ipA, ipB)
			slow := 0
			for i := range 200 {
				start := time.Now()
				msg := string(rune('a' + i%26))
				c.Write([]byte(msg))
				if got, err := readWithin(s, msg, time.Minute); err != nil || got != msg {
					t.Fatalf("write %d at loss %v: read %q, %v; want %q", i, loss, got, err, msg)
				}
				if time.Since(start) >= minRTO {
					slow++
				}
			}
			rt := n.Stats().Retransmits
			switch {
			case loss == 0 && (slow > 0 || rt > 0):
				t.Errorf("no loss: %d slow writes, %d retransmits; want none", slow, rt)
			case loss > 0 && (slow < 30 || slow > 90 || rt < uint64(slow)):
				t.Errorf("loss %v: %d of 200 writes waited a retransmission (%d retransmits); want about 60", loss, slow, rt)
			}
		})
	}
}

// TestLossEndsRetransmissions: data written while a link lost every
// packet arrives with its first retransmission after the loss ends (200
// ms, then 400 ms after that: at 600 ms), not after the backoff that the
// loss would have gone on to cause.
func TestLossEndsRetransmissions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(3)
		c, s := connect(t, n, ipA, ipB)
		n.SetLoss(1)
		start := time.Now()
		c.Write([]byte("held"))
		time.Sleep(300 * time.Millisecond)
		n.SetLoss(0)
		got, err := readWithin(s, "held", 5*time.Second)
		if err != nil || got != "held" {
			t.Fatalf("read %q, %v", got, err)
		}
		if took := time.Since(start); took != 600*time.Millisecond {
			t.Errorf("arrived after %v; want 600ms, the first retransmission after the loss ended", took)
		}
	})
}
