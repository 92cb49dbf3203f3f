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

// containerDev is the container's interface on the run's network (its only
// one besides lo).
const containerDev = "eth0"

// SetNetwork replaces node's network fault rules (the /fault/network shape
// of docs/api.md) and applies the resulting state with iptables and tc in
// the network namespaces of the containers concerned, from the host. The
// node's own transport fault filter is never used. Rules of a node that is
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
	if _, err := planNetwork(c.Nodes(), c.ips(), next); err != nil {
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
// for a node that is down and for one whose namespace already has the
// plan's configuration.
func (c *Cluster) applyNetworkLocked(ctx context.Context, n *node) error {
	c.mu.Lock()
	plan, err := planNetwork(c.Nodes(), c.ips(), c.rules)
	pid, state, applied := n.pid, n.state, n.applied
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if state == cluster.Down || pid == 0 {
		return nil
	}
	ipt := plan.iptables(n.id)
	tc := plan.tc(n.id, containerDev)
	want := ipt + strings.Join(tc, "\n")
	if want == applied {
		return nil
	}
	if err := c.iptablesRestore(ctx, pid, ipt); err != nil {
		return fmt.Errorf("docker: network faults on %s: %w", n.id, err)
	}
	// Replace the root qdisc: delete (absent is fine), then add the plan's.
	_ = nsExec(ctx, pid, "", "tc", "qdisc", "del", "dev", containerDev, "root")
	if len(tc) > 0 {
		if err := nsExec(ctx, pid, strings.Join(tc, "\n")+"\n", "tc", "-batch", "-"); err != nil {
			if strings.Contains(err.Error(), "qdisc kind is unknown") {
				return fmt.Errorf("%w: docker: packet delay on %s needs the kernel's netem qdisc (sch_netem; tc says a qdisc kind is unknown): %v",
					cluster.ErrUnsupported, n.id, err)
			}
			return fmt.Errorf("docker: packet delay on %s: %w", n.id, err)
		}
	}
	c.mu.Lock()
	if n.pid == pid {
		n.applied = want
	}
	c.mu.Unlock()
	c.log.Debug("network faults applied", "node", n.id, "iptables", ipt, "tc", tc)
	return nil
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
