package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
)

// SetNetwork replaces node's network fault rules (the /fault/network shape
// of docs/api.md) and applies the resulting state in the network
// namespaces of the containers concerned, from the host: iptables rules,
// and this process's NFQUEUE listeners for delayed links. The node's own
// transport fault filter is never used. Rules of a node that is
// down are applied when it starts again.
func (c *Cluster) SetNetwork(ctx context.Context, node string, rules []nodeapi.NetRule) error {
	if _, err := c.node(node); err != nil {
		return err
	}
	c.netMu.Lock()
	defer c.netMu.Unlock()
	c.mu.Lock()
	next := maps.Clone(c.rules)
	c.mu.Unlock()
	if len(rules) == 0 {
		delete(next, node)
	} else {
		next[node] = slices.Clone(rules)
	}
	if _, err := planNetwork(c.Nodes(), c.ips(), next, oneWayFor(c.opts.Target)); err != nil {
		return err
	}
	c.mu.Lock()
	c.rules = next
	c.mu.Unlock()
	var errs []error
	for _, n := range c.nodes {
		if err := c.applyNetworkLocked(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ClearNetwork removes node's network fault rules.
func (c *Cluster) ClearNetwork(ctx context.Context, node string) error {
	return c.SetNetwork(ctx, node, nil)
}

// NetworkRules returns node's current network fault rules.
func (c *Cluster) NetworkRules(node string) []nodeapi.NetRule {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rules[node])
}

func (c *Cluster) ips() map[string]string {
	m := map[string]string{}
	for _, n := range c.nodes {
		m[n.id] = n.ip
	}
	return m
}

// applyNetwork brings n's namespace to the current plan.
func (c *Cluster) applyNetwork(ctx context.Context, n *node) error {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	return c.applyNetworkLocked(ctx, n)
}

// applyNetworkLocked does applyNetwork with c.netMu held. It is a no-op
// for a node whose namespace already has the plan's configuration. A node
// that is down has no namespace: its delay listeners are closed and its
// faults wait for its next start.
//
// A new delay's listener is bound before the rule that feeds its queue
// appears, so the delay is in force when this returns; an old one is
// closed after its rule is gone, so no packet is left waiting.
func (c *Cluster) applyNetworkLocked(ctx context.Context, n *node) error {
	c.mu.Lock()
	plan, err := planNetwork(c.Nodes(), c.ips(), c.rules, oneWayFor(c.opts.Target))
	pid, state, applied, stopped := n.pid, n.state, n.applied, c.stopped
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if state == cluster.Down || pid == 0 || stopped {
		c.closeDelaysLocked(n.id, nil)
		return nil
	}
	ipt := plan.iptables(n.id)
	delays := plan.delays(n.id)
	want := ipt + fmt.Sprint(delays)
	if want == applied {
		return nil
	}
	if err := c.openDelaysLocked(n.id, pid, delays); err != nil {
		return fmt.Errorf("docker: packet delay on %s: %w", n.id, err)
	}
	if err := c.iptablesRestore(ctx, pid, ipt); err != nil {
		if len(delays) > 0 && c.iptablesRestore(ctx, pid, withoutNFQUEUE(ipt)) == nil {
			// Everything but the queue rules loads: the kernel (or this
			// iptables) lacks the NFQUEUE target that delay needs.
			c.closeDelaysLocked(n.id, nil)
			return fmt.Errorf("%w: docker: packet delay on %s needs the iptables NFQUEUE target (kernel: CONFIG_NETFILTER_XT_TARGET_NFQUEUE, CONFIG_NETFILTER_NETLINK_QUEUE), which this machine rejects; the other network faults are applied: %v",
				cluster.ErrUnsupported, n.id, err)
		}
		return fmt.Errorf("docker: network faults on %s: %w", n.id, err)
	}
	c.closeDelaysLocked(n.id, delays)
	c.mu.Lock()
	if n.pid == pid {
		n.applied = want
	}
	c.mu.Unlock()
	c.log.Debug("network faults applied", "node", n.id, "iptables", ipt, "delays", delays)
	return nil
}

// withoutNFQUEUE drops the NFQUEUE rules from an iptables-restore input.
func withoutNFQUEUE(rules string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(rules, "\n") {
		if !strings.Contains(l, "-j NFQUEUE") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// openDelaysLocked makes node's delay listeners match delays, in the
// namespace of the container process pid: a link whose listener belongs
// to an earlier container (an older pid) gets a new one; one whose delay
// changed keeps its listener with the new figures. Listeners of links not
// in delays are left for closeDelaysLocked. c.netMu is held.
func (c *Cluster) openDelaysLocked(node string, pid int, delays []linkDelay) error {
	for _, d := range delays {
		key := [2]string{node, d.Peer}
		if q := c.delays[key]; q != nil {
			if q.pid == pid && q.queue == d.Queue {
				q.set(d)
				continue
			}
			q.close()
			delete(c.delays, key)
		}
		q, err := openDelayQueue(c.log, node, pid, d)
		if err != nil {
			return err
		}
		c.delays[key] = q
	}
	return nil
}

// closeDelaysLocked closes node's delay listeners except those of the
// links in keep. c.netMu is held.
func (c *Cluster) closeDelaysLocked(node string, keep []linkDelay) {
	for key, q := range c.delays {
		if key[0] != node || slices.ContainsFunc(keep, func(d linkDelay) bool { return d.Peer == key[1] }) {
			continue
		}
		q.close()
		delete(c.delays, key)
	}
}

// closeDelays closes node's delay listeners (its container stopped: the
// namespace they listen in is gone with it).
func (c *Cluster) closeDelays(node string) {
	c.netMu.Lock()
	defer c.netMu.Unlock()
	c.closeDelaysLocked(node, nil)
}

// iptablesRestore loads rules into the filter table of pid's namespace.
// The first call finds which iptables-restore variant (the system default,
// legacy or nft) works inside a container namespace on this kernel.
func (c *Cluster) iptablesRestore(ctx context.Context, pid int, rules string) error {
	c.mu.Lock()
	ipt := c.ipt
	c.mu.Unlock()
	if ipt != "" {
		return nsExec(ctx, pid, rules, ipt, "-w")
	}
	var errs []error
	for _, cand := range iptablesCandidates() {
		err := nsExec(ctx, pid, rules, cand, "-w")
		if err == nil {
			c.mu.Lock()
			c.ipt = cand
			c.mu.Unlock()
			c.log.Debug("iptables variant", "path", cand)
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: no iptables-restore variant works in a container's namespace: %w", ErrMissingTool, errors.Join(errs...))
}

// dockerCombined runs the docker CLI and returns stdout and stderr
// interleaved (docker logs replays a container's two streams on them).
func dockerCombined(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("docker %s: %v: %s", firstWords(args, 2), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
