package docker

import (
	"errors"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

var testIPs = map[string]string{"node0": "172.20.0.10", "node1": "172.20.0.11", "node2": "172.20.0.12"}

func plan(t *testing.T, rules map[string][]nodeapi.NetRule) *netPlan {
	t.Helper()
	p, err := planNetwork([]string{"node0", "node1", "node2"}, testIPs, rules)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIptablesIsolateBothWays(t *testing.T) {
	// node0 isolated as the nemesis writes it: "both" on both sides.
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "both", Drop: true}, {Peer: "node2", Direction: "both", Drop: true}},
		"node1": {{Peer: "node0", Direction: "both", Drop: true}},
		"node2": {{Peer: "node0", Direction: "both", Drop: true}},
	})
	got := p.iptables("node0")
	for _, want := range []string{
		"-A OUTPUT -d 172.20.0.11/32 -j DROP\n", "-A INPUT -s 172.20.0.11/32 -j DROP\n",
		"-A OUTPUT -d 172.20.0.12/32 -j DROP\n", "-A INPUT -s 172.20.0.12/32 -j DROP\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("node0 rules lack %q:\n%s", want, got)
		}
	}
	n1 := p.iptables("node1")
	if !strings.Contains(n1, "-A OUTPUT -d 172.20.0.10/32 -j DROP\n") || strings.Contains(n1, "172.20.0.12") {
		t.Errorf("node1 must cut node0 only:\n%s", n1)
	}
	if !strings.HasPrefix(got, "*filter\n") || !strings.HasSuffix(got, "COMMIT\n") {
		t.Errorf("not an iptables-restore table:\n%s", got)
	}
}

func TestIptablesOneWay(t *testing.T) {
	// node0 -/-> node1, written as the nemesis writes a one-way cut.
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "out", Drop: true}},
		"node1": {{Peer: "node0", Direction: "in", Drop: true}},
	})
	// On node0: the connections it opens to node1 die, node1's to it live.
	n0 := p.iptables("node0")
	for _, want := range []string{
		"-A OUTPUT -d 172.20.0.11/32 -p tcp -m multiport --dports 7000,8000 -j DROP",
		"-A INPUT -s 172.20.0.11/32 -p tcp -m multiport --sports 7000,8000 -j DROP",
	} {
		if !strings.Contains(n0, want) {
			t.Errorf("node0 lacks %q:\n%s", want, n0)
		}
	}
	if strings.Contains(n0, "--dports 7000,8000 -j DROP\n-A OUTPUT -d 172.20.0.11/32 -p tcp -m multiport --sports") {
		t.Errorf("node0 also cuts node1's connections:\n%s", n0)
	}
	// On node1 the same link, seen from the receiving end.
	n1 := p.iptables("node1")
	for _, want := range []string{
		"-A INPUT -s 172.20.0.10/32 -p tcp -m multiport --dports 7000,8000 -j DROP",
		"-A OUTPUT -d 172.20.0.10/32 -p tcp -m multiport --sports 7000,8000 -j DROP",
	} {
		if !strings.Contains(n1, want) {
			t.Errorf("node1 lacks %q:\n%s", want, n1)
		}
	}
	if n2 := p.iptables("node2"); strings.Contains(n2, "DROP") {
		t.Errorf("node2 is not involved:\n%s", n2)
	}
}

func TestPacketFaultsPerPeer(t *testing.T) {
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "out", DelayMS: 50, JitterMS: 10}, {Peer: "node2", Direction: "out", Loss: 0.25}},
		"node2": {{Peer: "node1", Direction: "in", DelayMS: 5}}, // node1 -> node2 delayed, on node1's egress
	})
	got := strings.Join(p.tc("node0", "eth0"), "\n")
	for _, want := range []string{
		"qdisc add dev eth0 root handle 1: htb default 1",
		"class add dev eth0 parent 1: classid 1:10 htb rate 10gbit quantum 1514",
		"qdisc add dev eth0 parent 1:10 handle 10: netem delay 50ms 10ms",
		"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 172.20.0.11/32 flowid 1:10",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("node0 tc lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "172.20.0.12") {
		t.Errorf("loss towards node2 is iptables' job, not tc's:\n%s", got)
	}
	ipt := p.iptables("node0")
	if want := "-A OUTPUT -d 172.20.0.12/32 -m statistic --mode random --probability 0.25 -j DROP\n"; !strings.Contains(ipt, want) {
		t.Errorf("node0 iptables lack %q:\n%s", want, ipt)
	}
	n1 := strings.Join(p.tc("node1", "eth0"), "\n")
	if !strings.Contains(n1, "netem delay 5ms") || !strings.Contains(n1, "dst 172.20.0.12/32") {
		t.Errorf("an in-rule on node2 must delay node1's egress to node2:\n%s", n1)
	}
	if p.tc("node2", "eth0") != nil {
		t.Errorf("node2 has no egress fault")
	}
}

func TestPlanRejectsBadRules(t *testing.T) {
	for _, r := range []nodeapi.NetRule{
		{Peer: "node9", Direction: "out", Drop: true},
		{Peer: "node0", Direction: "out", Drop: true},
		{Peer: "node1", Direction: "sideways", Drop: true},
		{Peer: "node1", Direction: "out", Loss: 1.5},
		{Peer: "node1", Direction: "out"},
	} {
		_, err := planNetwork([]string{"node0", "node1", "node2"}, testIPs, map[string][]nodeapi.NetRule{"node0": {r}})
		if !errors.Is(err, ErrBadRule) {
			t.Errorf("%+v: got %v, want ErrBadRule", r, err)
		}
	}
}
