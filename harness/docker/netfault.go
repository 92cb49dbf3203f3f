package docker

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
	"github.com/raftkv/raftkv/harness/target"
)

// Ports every node listens on inside its container. Each container has its
// own address, so the ports are the same everywhere; the network rules use
// them to tell which side opened a connection.
const (
	raftPort = 7000
	apiPort  = 8000
)

// packetFault is the packet fault on one directed link.
type packetFault struct {
	DelayMS, JitterMS int64
	Loss              float64
}

// oneWay is how a one-way cut X -/-> P is made, which depends on how the
// target's nodes use their connections (target.DialerSender).
type oneWay int

const (
	// cutBytes drops every byte X sends to P, on any connection, and
	// lets through the TCP segments without payload: P's bytes still
	// reach X and are acknowledged, X's are never delivered. It holds
	// whoever opened a connection, so it suits any target.
	cutBytes oneWay = iota
	// cutConnections drops the TCP connections X opens to P's ports: for
	// a target whose messages travel only from a connection's dialer
	// (raftkv), the cut silences X towards P and leaves P's connections to
	// X whole, answers included.
	cutConnections
)

// oneWayFor is how a one-way cut is made for target t.
func oneWayFor(t target.Target) oneWay {
	if target.DialerSends(t) {
		return cutConnections
	}
	return cutBytes
}

// netPlan is the OS-level network state of every node, derived from the
// rules each node was given through its fault API: which directed links are
// cut and which carry packet delay or loss.
type netPlan struct {
	nodes  []string
	ips    map[string]string
	cut    map[[2]string]bool
	packet map[[2]string]packetFault
	oneWay oneWay
}

// linkDelay is the delay on one directed link, applied on the sender's
// egress: its packets to the peer go to NFQUEUE queue Queue in the
// sender's namespace, where the harness holds each one for Delay plus a
// uniform draw in [0, Jitter] before letting it through.
type linkDelay struct {
	Peer          string
	Queue         uint16
	Delay, Jitter time.Duration
}

// planNetwork turns per-node fault rules (the docs/api.md /fault/network
// shape) into directed link faults. A rule on node X for peer P with
// direction "out" acts on the link X->P, "in" on P->X, "both" on both.
// Drop cuts the link (a one-way cut is made as ow says); loss and delay
// are packet faults on the sender's egress towards the receiver.
func planNetwork(nodes []string, ips map[string]string, rules map[string][]nodeapi.NetRule, ow oneWay) (*netPlan, error) {
	p := &netPlan{nodes: slices.Clone(nodes), ips: ips, cut: map[[2]string]bool{}, packet: map[[2]string]packetFault{}, oneWay: ow}
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
				s := p.packet[l]
				s.DelayMS = max(s.DelayMS, r.DelayMS)
				s.JitterMS = max(s.JitterMS, r.JitterMS)
				s.Loss = max(s.Loss, r.Loss)
				p.packet[l] = s
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
// When both directions of a link are cut all traffic between the two
// addresses is dropped. A one-way cut X -/-> P depends on the target:
//
//   - cutConnections (raftkv): a raftkv connection is one-way at the
//     message level: the dialer sends (raft transport, and API forwarding
//     to the leader). So the link X->P is "every TCP connection X opens to
//     P's raft or API port": on X that is packets to P with those
//     destination ports and packets from P with those source ports (the
//     acknowledgements). Cutting it leaves P->X connections alone, which
//     is what a one-way partition means for the messages.
//   - cutBytes (any other target, e.g. etcd, whose members read each
//     other's messages from streams they opened to the sender): every
//     packet X sends to P is dropped but TCP segments without payload
//     (emptyTCP), on X's egress and on P's ingress. X's bytes never
//     arrive; P's arrive and X acknowledges them, so the connections P
//     writes on stay up while those X writes on stall.
//
// Each cut is written on both ends, so it holds while either end restarts.
//
// Loss and delay act on everything node sends to a peer. Lost packets are
// dropped first; the rest of a delayed link goes to its NFQUEUE queue with
// --queue-bypass, so that while no harness listens on the queue (before
// it binds, after it crashed) packets pass undelayed instead of being
// dropped. A packet the harness accepts leaves the hook, skipping the
// rules after the NFQUEUE one, which is why that one comes last.
func (p *netPlan) iptables(node string) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	if p.oneWay == cutBytes && p.hasOneWay(node) {
		b.WriteString(emptyTCPChain)
	}
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
		case out && p.oneWay == cutBytes: // every byte node sends peer
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -p tcp -j %s\n-A OUTPUT -d %s/32 -j DROP\n", ip, emptyTCP, ip)
		case in && p.oneWay == cutBytes: // every byte peer sends node
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -p tcp -j %s\n-A INPUT -s %s/32 -j DROP\n", ip, emptyTCP, ip)
		case out: // connections node opens to peer
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -p tcp -m multiport --dports %s -j DROP\n", ip, ports)
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -p tcp -m multiport --sports %s -j DROP\n", ip, ports)
		case in: // connections peer opens to node
			fmt.Fprintf(&b, "-A INPUT -s %s/32 -p tcp -m multiport --dports %s -j DROP\n", ip, ports)
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -p tcp -m multiport --sports %s -j DROP\n", ip, ports)
		}
		if s := p.packet[[2]string{node, peer}]; s.Loss > 0 && !out {
			// Random loss of every packet node sends to peer.
			fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -m statistic --mode random --probability %s -j DROP\n",
				ip, strconv.FormatFloat(s.Loss, 'f', -1, 64))
		}
	}
	for _, d := range p.delays(node) {
		fmt.Fprintf(&b, "-A OUTPUT -d %s/32 -j NFQUEUE --queue-num %d --queue-bypass\n", p.ips[d.Peer], d.Queue)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// emptyTCP is the chain that accepts a TCP segment without payload (one
// rule per TCP header length: the IP packet is exactly its two headers;
// IPv4 without options, as on a Docker bridge) and returns anything else
// to the rule after the jump, a DROP. ACCEPT ends the packet's walk
// through the hook, as a DROP would, so nothing after the jump sees it.
const emptyTCP = "EMPTY-TCP"

// emptyTCPChain declares emptyTCP and its rules (iptables-restore input).
var emptyTCPChain = func() string {
	var b strings.Builder
	fmt.Fprintf(&b, ":%s - [0:0]\n", emptyTCP)
	for h := 20; h <= 60; h += 4 { // the TCP data offset, in bytes
		fmt.Fprintf(&b, "-A %s -m u32 --u32 \"0>>22&0x3C=20 && 0&0xFFFF=%d && 0>>22&0x3C@12>>26&0x3C=%d\" -j ACCEPT\n", emptyTCP, 20+h, h)
	}
	return b.String()
}()

// hasOneWay reports whether a one-way cut touches node (as either end).
func (p *netPlan) hasOneWay(node string) bool {
	for l := range p.cut {
		if (l[0] == node || l[1] == node) && !p.cut[[2]string{l[1], l[0]}] {
			return true
		}
	}
	return false
}

// delays lists the delayed links on node's egress, by peer. A link that is
// cut is not delayed: nothing of it gets through anyway. Each peer has its
// own queue number (queue numbers belong to a network namespace, so they
// only need to differ within node's): its index among the plan's nodes.
func (p *netPlan) delays(node string) []linkDelay {
	var out []linkDelay
	for i, peer := range p.nodes {
		l := [2]string{node, peer}
		s, ok := p.packet[l]
		if !ok || peer == node || p.cut[l] || s.DelayMS+s.JitterMS == 0 {
			continue
		}
		out = append(out, linkDelay{Peer: peer, Queue: uint16(i),
			Delay: time.Duration(s.DelayMS) * time.Millisecond, Jitter: time.Duration(s.JitterMS) * time.Millisecond})
	}
	return out
}
