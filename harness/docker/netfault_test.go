package docker

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

var testIPs = map[string]string{"node0": "172.20.0.10", "node1": "172.20.0.11", "node2": "172.20.0.12"}

func plan(t *testing.T, rules map[string][]nodeapi.NetRule) *netPlan {
	t.Helper()
	p, err := planNetwork([]string{"node0", "node1", "node2"}, testIPs, rules, cutConnections)
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
	ipt := p.iptables("node0")
	for _, want := range []string{
		"-A OUTPUT -d 172.20.0.12/32 -m statistic --mode random --probability 0.25 -j DROP\n",
		"-A OUTPUT -d 172.20.0.11/32 -j NFQUEUE --queue-num 1 --queue-bypass\n",
	} {
		if !strings.Contains(ipt, want) {
			t.Errorf("node0 iptables lack %q:\n%s", want, ipt)
		}
	}
	if strings.Contains(ipt, "172.20.0.12/32 -j NFQUEUE") {
		t.Errorf("node0 -> node2 has loss, no delay:\n%s", ipt)
	}
	if got, want := p.delays("node0"), []linkDelay{{Peer: "node1", Queue: 1, Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}}; !slices.Equal(got, want) {
		t.Errorf("node0 delays %+v, want %+v", got, want)
	}
	// An in-rule on node2 delays node1's egress to node2, in node1's
	// namespace, on node2's queue number.
	n1 := p.iptables("node1")
	if want := "-A OUTPUT -d 172.20.0.12/32 -j NFQUEUE --queue-num 2 --queue-bypass\n"; !strings.Contains(n1, want) {
		t.Errorf("node1 iptables lack %q:\n%s", want, n1)
	}
	if got, want := p.delays("node1"), []linkDelay{{Peer: "node2", Queue: 2, Delay: 5 * time.Millisecond}}; !slices.Equal(got, want) {
		t.Errorf("node1 delays %+v, want %+v", got, want)
	}
	if d := p.delays("node2"); d != nil || strings.Contains(p.iptables("node2"), "NFQUEUE") {
		t.Errorf("node2 has no egress fault: %+v\n%s", d, p.iptables("node2"))
	}
}

func TestDelayRuleComesAfterDropsAndLoss(t *testing.T) {
	// A packet accepted from the queue skips the rest of the chain, so the
	// queue rule must come after every DROP that could apply to it.
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {
			{Peer: "node1", Direction: "out", DelayMS: 200, Loss: 0.1},
			{Peer: "node2", Direction: "in", Drop: true},
		},
	})
	ipt := p.iptables("node0")
	q := strings.Index(ipt, "-j NFQUEUE")
	if q < 0 || strings.LastIndex(ipt, "-j DROP") > q {
		t.Errorf("NFQUEUE rule missing or before a DROP:\n%s", ipt)
	}
	if !strings.HasSuffix(ipt, "--queue-bypass\nCOMMIT\n") {
		t.Errorf("the queue rule must bypass when nobody listens:\n%s", ipt)
	}
}

func TestCutLinkIsNotDelayed(t *testing.T) {
	// Cut both ways and delayed: nothing gets through, so nothing is
	// queued either.
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "both", Drop: true}, {Peer: "node1", Direction: "out", DelayMS: 100}},
	})
	if d := p.delays("node0"); d != nil {
		t.Errorf("a cut link got a delay: %+v", d)
	}
	if strings.Contains(p.iptables("node0"), "NFQUEUE") {
		t.Errorf("a cut link got a queue rule:\n%s", p.iptables("node0"))
	}
}

func TestWithoutNFQUEUE(t *testing.T) {
	p := plan(t, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "out", DelayMS: 50}, {Peer: "node2", Direction: "both", Drop: true}},
	})
	got := withoutNFQUEUE(p.iptables("node0"))
	if strings.Contains(got, "NFQUEUE") || !strings.Contains(got, "-A OUTPUT -d 172.20.0.12/32 -j DROP\n") || !strings.HasSuffix(got, "COMMIT\n") {
		t.Errorf("withoutNFQUEUE:\n%s", got)
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
		_, err := planNetwork([]string{"node0", "node1", "node2"}, testIPs, map[string][]nodeapi.NetRule{"node0": {r}}, cutConnections)
		if !errors.Is(err, ErrBadRule) {
			t.Errorf("%+v: got %v, want ErrBadRule", r, err)
		}
	}
}
