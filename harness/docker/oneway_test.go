package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

// oneWayRules is a one-way cut node0 -/-> node1, as the nemesis writes it.
var oneWayRules = map[string][]nodeapi.NetRule{
	"node0": {{Peer: "node1", Direction: "out", Drop: true}},
	"node1": {{Peer: "node0", Direction: "in", Drop: true}},
}

// TestIptablesOneWayBytes: for a target that uses its connections both
// ways (etcd) a one-way cut drops what the sender sends, bar segments
// without payload, on the sender's egress and on the receiver's ingress,
// whatever the ports; the bystander and symmetric cuts are as before.
func TestIptablesOneWayBytes(t *testing.T) {
	p, err := planNetwork([]string{"node0", "node1", "node2"}, testIPs, oneWayRules, cutBytes)
	if err != nil {
		t.Fatal(err)
	}
	n0 := p.iptables("node0")
	for _, want := range []string{
		":EMPTY-TCP - [0:0]\n",
		"-A OUTPUT -d 172.20.0.11/32 -p tcp -j EMPTY-TCP\n-A OUTPUT -d 172.20.0.11/32 -j DROP\n",
	} {
		if !strings.Contains(n0, want) {
			t.Errorf("node0 lacks %q:\n%s", want, n0)
		}
	}
	n1 := p.iptables("node1")
	if want := "-A INPUT -s 172.20.0.10/32 -p tcp -j EMPTY-TCP\n-A INPUT -s 172.20.0.10/32 -j DROP\n"; !strings.Contains(n1, want) {
		t.Errorf("node1 lacks %q:\n%s", want, n1)
	}
	for node, text := range map[string]string{"node0": n0, "node1": n1} {
		if strings.Contains(text, "multiport") || strings.Contains(text, "INPUT -s 172.20.0.11") || strings.Contains(text, "OUTPUT -d 172.20.0.10") {
			t.Errorf("%s cuts more than node0 -> node1:\n%s", node, text)
		}
	}
	if n2 := p.iptables("node2"); strings.Contains(n2, "DROP") || strings.Contains(n2, emptyTCP) {
		t.Errorf("node2 is not involved:\n%s", n2)
	}
	// One ACCEPT per TCP header length, 20 to 60 bytes.
	if got := strings.Count(emptyTCPChain, "-j ACCEPT\n"); got != 11 ||
		!strings.Contains(emptyTCPChain, `0&0xFFFF=40 && 0>>22&0x3C@12>>26&0x3C=20"`) ||
		!strings.Contains(emptyTCPChain, `0&0xFFFF=80 && 0>>22&0x3C@12>>26&0x3C=60"`) {
		t.Errorf("chain:\n%s", emptyTCPChain)
	}
	// Both ways cut: every packet between the two, no chain needed.
	p, err = planNetwork([]string{"node0", "node1", "node2"}, testIPs, map[string][]nodeapi.NetRule{
		"node0": {{Peer: "node1", Direction: "both", Drop: true}},
	}, cutBytes)
	if err != nil {
		t.Fatal(err)
	}
	if n0 := p.iptables("node0"); strings.Contains(n0, emptyTCP) || !strings.Contains(n0, "-A OUTPUT -d 172.20.0.11/32 -j DROP\n-A INPUT -s 172.20.0.11/32 -j DROP\n") {
		t.Errorf("a cut both ways:\n%s", n0)
	}
}

// netnsChild marks the test process re-executed in a network namespace
// of its own.
const netnsChild = "RAFTKV_DOCKER_TEST_NETNS_CHILD"

// TestOneWayCutsOnTheKernel loads the one-way rules of both modes into a
// fresh network namespace (the test re-executes itself under unshare
// --net, as root) with the sender at 127.0.0.2 and the receiver at
// 127.0.0.3 on its loopback, and checks what TCP does through them:
//
//   - cutBytes, on the sender's egress and on the receiver's ingress: on a
//     connection opened by either, the receiver's bytes reach the sender
//     whole (a MiB: the sender's acknowledgements pass), the sender's
//     never arrive;
//   - cutConnections: the sender cannot connect to the receiver's ports;
//     the receiver's connections to it work both ways.
func TestOneWayCutsOnTheKernel(t *testing.T) {
	if os.Getenv(netnsChild) == "" {
		if testing.Short() {
			t.Skip("loads iptables rules in a network namespace")
		}
		if os.Geteuid() != 0 {
			t.Skip("needs root for a network namespace and iptables")
		}
		for _, tool := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s not found", tool)
			}
		}
		if len(iptablesCandidates()) == 0 {
			t.Skip("no iptables-restore")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "--net", os.Args[0], "-test.run=^TestOneWayCutsOnTheKernel$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), netnsChild+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a network namespace of its own:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestOneWayCutsOnTheKernel") {
			t.Fatalf("the test in its namespace did not pass: %v", err)
		}
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	const x, p = "127.0.0.2", "127.0.0.3"
	ips := map[string]string{"x": x, "p": p}
	rules := map[string][]nodeapi.NetRule{
		"x": {{Peer: "p", Direction: "out", Drop: true}},
		"p": {{Peer: "x", Direction: "in", Drop: true}},
	}
	load := func(ow oneWay, node string) {
		t.Helper()
		plan, err := planNetwork([]string{"x", "p"}, ips, rules, ow)
		if err != nil {
			t.Fatal(err)
		}
		if err := restoreHere(plan.iptables(node)); err != nil {
			t.Fatal(err)
		}
	}
	for _, end := range []string{"x", "p"} {
		load(cutBytes, end)
		t.Logf("cutBytes written on %s", end)
		checkBytesCut(t, x, p, "0")
	}
	load(cutConnections, "x")
	if c, err := dialFrom(x, net.JoinHostPort(p, "7000"), time.Second); err == nil {
		c.Close()
		t.Errorf("x connected to p's raft port through a one-way cut")
	}
	checkBothWays(t, p, x, "7000")
}

// restoreHere loads rules with the first iptables-restore that works in
// this namespace.
func restoreHere(rules string) error {
	var errs []error
	for _, ipt := range iptablesCandidates() {
		cmd := exec.Command(ipt, "-w")
		cmd.Stdin = strings.NewReader(rules)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		errs = append(errs, errors.New(ipt+": "+err.Error()+": "+string(out)))
	}
	return errors.Join(errs...)
}

func dialFrom(from, to string, d time.Duration) (net.Conn, error) {
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: d}
	return dl.Dial("tcp", to)
}

// pair connects dialer's address to a listener on listener's (port "0":
// any) and returns the dialer's end and the listener's.
func pair(t *testing.T, dialer, listener, port string) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(listener, port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	d, err := dialFrom(dialer, ln.Addr().String(), 20*time.Second)
	if err != nil {
		t.Fatalf("%s cannot connect to %s: %v", dialer, listener, err)
	}
	a := <-ch
	if a.err != nil {
		d.Close()
		t.Fatalf("%s accepting from %s: %v", listener, dialer, a.err)
	}
	t.Cleanup(func() { d.Close(); a.c.Close() })
	return d, a.c
}

// flows checks that a MiB written on from arrives whole on to.
func flows(t *testing.T, from, to net.Conn, what string) {
	t.Helper()
	data := bytes.Repeat([]byte("raftkv"), 1<<20/6)
	errc := make(chan error, 1)
	go func() {
		_ = from.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := from.Write(data)
		errc <- err
	}()
	_ = to.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(data))
	if _, err := io.ReadFull(to, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s: %v", what, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
}

// blocked checks that what is written on from does not arrive on to.
// Nothing can be waited for to show an absence: the read waits a second,
// hundreds of times what a byte takes over loopback.
func blocked(t *testing.T, from, to net.Conn, what string) {
	t.Helper()
	if _, err := from.Write([]byte("must not arrive")); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	_ = to.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	n, err := to.Read(buf)
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s: read %q, %v: want nothing", what, buf[:n], err)
	}
}

// checkBytesCut: x -/-> p by bytes, on connections opened by either.
func checkBytesCut(t *testing.T, x, p, port string) {
	t.Helper()
	xc, pc := pair(t, x, p, port)
	flows(t, pc, xc, "p's bytes to x on x's connection")
	blocked(t, xc, pc, "x's bytes to p on x's connection")
	pc, xc = pair(t, p, x, port)
	flows(t, pc, xc, "p's bytes to x on p's connection")
	blocked(t, xc, pc, "x's bytes to p on p's connection")
}

// checkBothWays: a connects to b's port and bytes flow both ways.
func checkBothWays(t *testing.T, a, b, port string) {
	t.Helper()
	ac, bc := pair(t, a, b, port)
	flows(t, ac, bc, a+" to "+b)
	flows(t, bc, ac, b+" to "+a)
}
