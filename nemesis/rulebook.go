package nemesis

import (
	"slices"
	"sync"

	"github.com/raftkv/raftkv/harness/nodeapi"
)

// RuleBook keeps each node's network fault rules by the fault that set
// them. A node's fault API replaces all its rules at once, so two faults
// on one node at the same time (a compose of a partition and a packet
// delay, a leader flap during a partition) must send the node the union of
// their rules, and a fault's heal must take away only its own: otherwise
// the last fault injected silently replaces the others, and a composed
// fault tests less than it says. The nemesis (Env) and the simulation
// keep one each.
//
// The book is what the faults intend, not what a node holds: a node that
// restarts loses its rules (a raftkv process keeps them in memory), and
// gets the union again the next time a fault sets or removes rules on it.
type RuleBook struct {
	mu     sync.Mutex
	byNode map[string][]ownedRules
}

type ownedRules struct {
	owner any
	rules []nodeapi.NetRule
}

// Set records owner's rules on node (replacing what owner had there) and
// returns the node's rules from every owner, in the order the owners first
// set rules.
func (b *RuleBook) Set(owner any, node string, rules []nodeapi.NetRule) []nodeapi.NetRule {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byNode == nil {
		b.byNode = map[string][]ownedRules{}
	}
	entries := b.byNode[node]
	if i := slices.IndexFunc(entries, func(e ownedRules) bool { return e.owner == owner }); i >= 0 {
		entries[i].rules = slices.Clone(rules)
	} else {
		entries = append(entries, ownedRules{owner: owner, rules: slices.Clone(rules)})
	}
	b.byNode[node] = entries
	return union(entries)
}

// Remove forgets owner's rules on node and returns the node's remaining
// rules (none: the node should have no fault rule).
func (b *RuleBook) Remove(owner any, node string) []nodeapi.NetRule {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := slices.DeleteFunc(b.byNode[node], func(e ownedRules) bool { return e.owner == owner })
	if len(entries) == 0 {
		delete(b.byNode, node)
		return nil
	}
	b.byNode[node] = entries
	return union(entries)
}

// Reset forgets every rule (a heal-all clears every node).
func (b *RuleBook) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byNode = nil
}

func union(entries []ownedRules) []nodeapi.NetRule {
	var out []nodeapi.NetRule
	for _, e := range entries {
		out = append(out, e.rules...)
	}
	return out
}
