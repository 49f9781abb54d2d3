package realnet

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Bridge names the bridge's namespace in Command: a program run there
// (the delayer of Delay) sees every packet between hosts.
const Bridge = "bridge"

// FilterAvailable reports why Cut, Lose and Delay cannot act here, or
// nil: they need iptables (Debian's iptables package) and a kernel
// with br_netfilter, so that bridged packets pass the FORWARD chain.
func FilterAvailable() error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return errors.New("realnet's loss, delay and one-way cuts need iptables (Debian: apt-get install iptables)")
	}
	return nil
}

// EnableFilter makes the bridge's packets pass its namespace's
// iptables FORWARD chain (br_netfilter's bridge-nf-call-iptables, a
// setting of that namespace alone), where Cut, Lose and Delay put their
// rules.
func (n *Net) EnableFilter() error {
	if err := FilterAvailable(); err != nil {
		return err
	}
	if err := n.inBridge("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"); err != nil {
		return fmt.Errorf("realnet: br_netfilter in the bridge namespace: %w", err)
	}
	return n.Clear()
}

// Cut drops every packet from the hosts of from to the hosts of to,
// and nothing the other way: a one-way partition. Clear undoes it.
func (n *Net) Cut(from, to []string) error {
	for _, a := range from {
		for _, b := range to {
			if err := n.rule("-m", "physdev", "--physdev-in", n.Host(a).port, "--physdev-out", n.Host(b).port, "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lose drops each packet between hosts with probability p.
func (n *Net) Lose(p float64) error {
	if p <= 0 || p > 1 {
		return fmt.Errorf("realnet: loss probability %v not in (0, 1]", p)
	}
	return n.rule("-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(p, 'f', 4, 64), "-j", "DROP")
}

// Delay hands every packet between hosts to NFQUEUE queue, where the
// delayer (realproc delay, run in the Bridge namespace) holds each for
// a delay of its own. Without a delayer bound to the queue the packets
// pass undelayed (--queue-bypass): check Matched and the delayer's
// count.
func (n *Net) Delay(queue int) error {
	return n.rule("-j", "NFQUEUE", "--queue-num", strconv.Itoa(queue), "--queue-bypass")
}

// Clear removes every rule of Cut, Lose and Delay.
func (n *Net) Clear() error { return n.inBridge("iptables", "-F", "FORWARD") }

// Matched returns how many packets the rules in place have matched:
// dropped, for Cut and Lose; queued (or bypassed), for Delay.
func (n *Net) Matched() (int, error) {
	out, err := n.Command(Bridge, "iptables", "-L", "FORWARD", "-v", "-x", "-n").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("iptables -L: %v: %s", err, out)
	}
	total := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if c, err := strconv.Atoi(f[0]); err == nil {
			total += c
		}
	}
	return total, nil
}

func (n *Net) rule(match ...string) error {
	return n.inBridge("iptables", append([]string{"-A", "FORWARD"}, match...)...)
}

// inBridge runs a command in the bridge's namespace.
func (n *Net) inBridge(name string, args ...string) error {
	out, err := n.Command(Bridge, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
