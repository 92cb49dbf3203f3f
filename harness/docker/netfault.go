package docker

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

// Ports every node listens on inside its container. Each container has its
// own address, so the ports are the same everywhere; the network rules use
// them to tell which side opened a connection.
const (
	raftPort = 7000
	apiPort  = 8000
)

// netemSpec is the packet fault on one directed link.
type netemSpec struct {
	DelayMS, JitterMS int64
	Loss              float64
}

// netPlan is the OS-level network state of every node, derived from the
// rules each node was given through its fault API: which directed links are
// cut and which carry netem delay or loss.
type netPlan struct {
	nodes []string
	ips   map[string]string
	cut   map[[2]string]bool
	netem map[[2]string]netemSpec
}

// planNetwork turns per-node fault rules (the docs/api.md /fault/network
// shape) into directed link faults. A rule on node X for peer P with
// direction "out" acts on the link X->P, "in" on P->X, "both" on both.
// Drop cuts the link; loss and delay are packet faults on the sender's
// egress towards the receiver.
func planNetwork(nodes []string, ips map[string]string, rules map[string][]nodeapi.NetRule) (*netPlan, error) {
	p := &netPlan{nodes: slices.Clone(nodes), ips: ips, cut: map[[2]string]bool{}, netem: map[[2]string]netemSpec{}}
	sort.Strings(p.nodes)
	for _, x := range p.nodes {
		for _, r := range rules[x] {
			if err := validRule(x, r, ips); err != nil {
				return nil, err
			}
			var links [][2]string
			switch r.Direction {
			case "out":
				links = [][2]string{{x, r.Peer}}
			case "in":
				links = [][2]string{{r.Peer, x}}
			case "both":
				links = [][2]string{{x, r.Peer}, {r.Peer, x}}
			}
			for _, l := range links {
				if r.Drop {
					p.cut[l] = true
					continue
				}
				// Two rules on one link: keep the harsher of each knob.
				s := p.netem[l]
				s.DelayMS = max(s.DelayMS, r.DelayMS)
				s.JitterMS = max(s.JitterMS, r.JitterMS)
				s.Loss = max(s.Loss, r.Loss)
				p.netem[l] = s
			}
		}
	}
	return p, nil
}

func validRule(node string, r nodeapi.NetRule, ips map[string]string) error {
	if _, ok := ips[r.Peer]; !ok || r.Peer == node {
		return fmt.Errorf("%w: rule on %s: unknown peer %q", ErrBadRule, node, r.Peer)
	}
	switch r.Direction {
	case "in", "out", "both":
	default:
		return fmt.Errorf("%w: rule on %s: direction %q (in|out|both)", ErrBadRule, node, r.Direction)
	}
	if r.Loss < 0 || r.Loss > 1 || r.DelayMS < 0 || r.JitterMS < 0 {
		return fmt.Errorf("%w: rule on %s: loss must be in [0,1], delays >= 0", ErrBadRule, node)
	}
	if !r.Drop && r.Loss == 0 && r.DelayMS == 0 {
		return fmt.Errorf("%w: rule on %s for %s does nothing (no drop, loss or delay)", ErrBadRule, node, r.Peer)
	}
	return nil
}

// iptables returns the iptables-restore input for node's network namespace.
//
// A raftkv connection is one-way at the message level: the dialer sends
// (raft transport, and API forwarding to the leader). So the link X->P is
// "every TCP connection X opens to P's raft or API port": on X that is
// packets to P with those destination ports and packets from P with those
// source ports (the acknowledgements). Cutting it leaves P->X connections
// alone, which is what a one-way partition means for the messages. When
// both directions are cut all traffic between the two addresses is
// dropped. Each cut is written on both ends, so it holds while either end
// restarts.
func (p *netPlan) iptables(node string) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	ports := strconv.Itoa(raftPort) + "," + strconv.Itoa(apiPort)
	for _, peer := range p.nodes {
		if peer == node {
			continue
		}
		ip := p.ips[peer]
		out, in := p.cut[[2]string{node, peer}], p.cut[[2]string{peer, node}]
		switch {
		case out && in:
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -j DROP\n-A INPUT -s %s/32 -j DROP\n", ip, ip)
		case out: // connections node opens to peer
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -p tcp -m multiport --dports %s -j DROP\n", ip, ports)
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -p tcp -m multiport --sports %s -j DROP\n", ip, ports)
		case in: // connections peer opens to node
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -p tcp -m multiport --dports %s -j DROP\n", ip, ports)
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -p tcp -m multiport --sports %s -j DROP\n", ip, ports)
		}
		if s := p.netem[[2]string{node, peer}]; s.Loss > 0 && !out {
			// Random loss of every packet node sends to peer.
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -m statistic --mode random --probability %s -j DROP\n",
				ip, strconv.FormatFloat(s.Loss, 'f', -1, 64))
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// tc returns the `tc -batch` lines that delay node's egress towards each
// peer with a delay fault, or nil when there is none. An htb root sends
// unmatched traffic to its default class untouched; a u32 filter per peer
// address steers that peer's packets into a class whose child qdisc is
// netem. (Loss is done by iptables, which needs no netem.) Class minors are
// hexadecimal in tc's syntax.
func (p *netPlan) tc(node, dev string) []string {
	var peers []string
	for _, peer := range p.nodes {
		if s, ok := p.netem[[2]string{node, peer}]; ok && peer != node && s.DelayMS+s.JitterMS > 0 {
			peers = append(peers, peer)
		}
	}
	if len(peers) == 0 {
		return nil
	}
	lines := []string{
		fmt.Sprintf("qdisc add dev %s root handle 1: htb default 1", dev),
		fmt.Sprintf("class add dev %s parent 1: classid 1:1 htb rate 10gbit quantum 1514", dev),
	}
	for i, peer := range peers {
		s := p.netem[[2]string{node, peer}]
		minor := 0x10 + i
		args := fmt.Sprintf("delay %dms", s.DelayMS)
		if s.JitterMS > 0 {
			args += fmt.Sprintf(" %dms", s.JitterMS)
		}
		lines = append(lines,
			fmt.Sprintf("class add dev %s parent 1: classid 1:%x htb rate 10gbit quantum 1514", dev, minor),
			fmt.Sprintf("qdisc add dev %s parent 1:%x handle %x: netem %s", dev, minor, minor, args),
			fmt.Sprintf("filter add dev %s parent 1: protocol ip prio 1 u32 match ip dst %s/32 flowid 1:%x", dev, p.ips[peer], minor))
	}
	return lines
}
