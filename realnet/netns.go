package realnet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Net is a set of network namespaces, one per host, each with one
// interface (eth0) on a bridge in a namespace of its own, with addresses
// that exist only inside them (Subnet). Partitions move hosts' bridge
// ports to other bridges: packets between the sides are dropped without
// a word, as a real partition does (no reset, no ICMP), until Heal.
type Net struct {
	prefix string
	hosts  []Host
	side   map[string]int // host -> bridge index
	brMade bool           // the bridge namespace is this Net's to delete
}

// Host is one namespace of a Net.
type Host struct {
	Name string // as given to New
	NS   string // the namespace's name
	IP   string // its address
	port string // its veth in the bridge namespace
}

// Subnet holds every address of a Net: a private range that exists only
// inside the namespaces the suite makes.
const Subnet = "10.213.0."

// Available reports why the suite cannot run here, or nil: it needs root
// and iproute2's ip, and a namespace it can make (named with prefix and
// this process's pid, as every namespace of a Net should be).
func Available(prefix string) error {
	if os.Geteuid() != 0 {
		return errors.New("realnet needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("realnet needs iproute2's ip")
	}
	probe := fmt.Sprintf("%s%d-probe", prefix, os.Getpid())
	if err := ip("netns", "add", probe); err != nil {
		return fmt.Errorf("realnet cannot make a network namespace: %w", err)
	}
	return ip("netns", "del", probe)
}

// CleanStale deletes the namespaces named prefix, a pid and "-" whose
// process is gone (a run that was killed left them) or is this one.
// Those of a suite still running elsewhere stay.
func CleanStale(prefix string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		owner, _, ok := strings.Cut(strings.TrimPrefix(f[0], prefix), "-")
		pid, err := strconv.Atoi(owner)
		if !ok || err != nil {
			continue
		}
		if pid == os.Getpid() || syscall.Kill(pid, 0) == syscall.ESRCH {
			ip("netns", "del", f[0])
		}
	}
}

// New makes a namespace per name (addresses Subnet+"10", "11", ...) on
// one bridge. On error it deletes what it made.
func New(prefix string, names ...string) (n *Net, err error) {
	n = &Net{prefix: prefix, side: map[string]int{}}
	defer func() {
		if err != nil {
			n.Close()
			n = nil
		}
	}()
	for _, name := range names {
		if name == "br" || name == Bridge {
			return nil, fmt.Errorf("realnet: %q names the bridge's namespace, not a host", name)
		}
	}
	brNS := prefix + "br"
	if err := ip("netns", "add", brNS); err != nil {
		return nil, err
	}
	n.brMade = true
	if err := n.bridge(0); err != nil {
		return nil, err
	}
	for i, name := range names {
		h := Host{Name: name, NS: prefix + name, IP: fmt.Sprintf("%s%d", Subnet, 10+i), port: fmt.Sprintf("p%d", i)}
		if err := ip("netns", "add", h.NS); err != nil {
			return nil, err
		}
		n.hosts = append(n.hosts, h) // Close deletes it from here on
		n.side[name] = 0
		steps := [][]string{
			{"-n", brNS, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
			{"-n", brNS, "link", "set", h.port, "master", "br0", "up"},
			{"-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
			{"-n", h.NS, "link", "set", "eth0", "up"},
			{"-n", h.NS, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if err := ip(s...); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

// bridge makes bridge brI in the bridge namespace.
func (n *Net) bridge(i int) error {
	br := fmt.Sprintf("br%d", i)
	if err := ip("-n", n.prefix+"br", "link", "add", br, "type", "bridge"); err != nil {
		return err
	}
	return ip("-n", n.prefix+"br", "link", "set", br, "up")
}

// Host returns the host of name.
func (n *Net) Host(name string) Host {
	i := slices.IndexFunc(n.hosts, func(h Host) bool { return h.Name == name })
	if i < 0 {
		panic("realnet: no host " + name)
	}
	return n.hosts[i]
}

// Command returns a command that runs in host's namespace, or in the
// bridge's namespace if host is Bridge.
func (n *Net) Command(host, name string, args ...string) *exec.Cmd {
	ns := n.prefix + "br"
	if host != Bridge {
		ns = n.Host(host).NS
	}
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Partition puts each group of hosts on a bridge of its own; hosts in
// no group stay on the first group's. Heal undoes it.
func (n *Net) Partition(groups ...[]string) error {
	for i, g := range groups {
		if i > 0 && !n.hasBridge(i) {
			if err := n.bridge(i); err != nil {
				return err
			}
		}
		for _, name := range g {
			if err := n.attach(name, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// Heal puts every host back on the first bridge.
func (n *Net) Heal() error {
	for _, h := range n.hosts {
		if err := n.attach(h.Name, 0); err != nil {
			return err
		}
	}
	return nil
}

func (n *Net) hasBridge(i int) bool {
	return ip("-n", n.prefix+"br", "link", "show", fmt.Sprintf("br%d", i)) == nil
}

func (n *Net) attach(name string, side int) error {
	if n.side[name] == side {
		return nil
	}
	if err := ip("-n", n.prefix+"br", "link", "set", n.Host(name).port, "master", fmt.Sprintf("br%d", side)); err != nil {
		return err
	}
	n.side[name] = side
	return nil
}

// Close deletes every namespace of the Net (with them go the veths and
// the bridges).
func (n *Net) Close() error {
	var errs []error
	for _, h := range n.hosts {
		errs = append(errs, ip("netns", "del", h.NS))
	}
	if n.brMade {
		errs = append(errs, ip("netns", "del", n.prefix+"br"))
	}
	n.hosts, n.brMade = nil, false
	return errors.Join(errs...)
}

func ip(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
