package checker

import (
	"fmt"
	"sort"
)

// NodeState is what a node reports about its state machine: the hash of
// the KV state at its applied index, taken atomically with it (GET
// /status's applied and state_hash).
type NodeState struct {
	Node      string `json:"node"`
	Applied   uint64 `json:"applied"`
	StateHash string `json:"state_hash"`
}

// ConvergenceResult is the outcome of CheckConvergence.
type ConvergenceResult struct {
	// Verdict is Invalid when two nodes at the same applied index have
	// different state hashes (their state machines diverged), Valid when
	// all nodes are at one applied index with one hash, and Unknown
	// otherwise (no states, or nodes at different applied indexes that
	// agree wherever they can be compared).
	Verdict Verdict `json:"verdict"`
	// Comparable is true when every node is at the same applied index.
	Comparable bool `json:"comparable"`
	// Converged is true when Comparable and all hashes are equal.
	Converged bool `json:"converged"`
	// Diverged lists, per applied index where nodes disagree, the nodes
	// grouped by hash.
	Diverged []Divergence `json:"diverged,omitempty"`
	Nodes    []NodeState  `json:"nodes"`
	Message  string       `json:"message"`
}

// Divergence is a set of nodes at one applied index that disagree.
type Divergence struct {
	Applied uint64              `json:"applied"`
	ByHash  map[string][]string `json:"by_hash"` // hash -> nodes
}

// CheckConvergence compares the nodes' state hashes. Only nodes at the
// same applied index can be compared; the harness should wait until all
// nodes report the same applied index (after healing and a final write)
// before calling it, otherwise the result is "not comparable" (Unknown)
// unless a divergence is found among the nodes that are comparable.
func CheckConvergence(states []NodeState) ConvergenceResult {
	res := ConvergenceResult{Nodes: append([]NodeState(nil), states...)}
	sort.Slice(res.Nodes, func(i, j int) bool { return res.Nodes[i].Node < res.Nodes[j].Node })
	if len(states) == 0 {
		res.Verdict, res.Message = Unknown, "no node states"
		return res
	}
	byApplied := make(map[uint64]map[string][]string)
	for _, s := range res.Nodes {
		if byApplied[s.Applied] == nil {
			byApplied[s.Applied] = make(map[string][]string)
		}
		byApplied[s.Applied][s.StateHash] = append(byApplied[s.Applied][s.StateHash], s.Node)
	}
	indexes := make([]uint64, 0, len(byApplied))
	for a := range byApplied {
		indexes = append(indexes, a)
	}
	sort.Slice(indexes, func(i, j int) bool { return indexes[i] < indexes[j] })
	for _, a := range indexes {
		if len(byApplied[a]) > 1 {
			res.Diverged = append(res.Diverged, Divergence{Applied: a, ByHash: byApplied[a]})
		}
	}
	res.Comparable = len(indexes) == 1
	switch {
	case len(res.Diverged) > 0:
		res.Verdict = Invalid
		res.Message = fmt.Sprintf("state machines diverged at applied index %d", res.Diverged[0].Applied)
	case !res.Comparable:
		res.Verdict = Unknown
		res.Message = fmt.Sprintf("not comparable: nodes are at %d different applied indexes (%d..%d)", len(indexes), indexes[0], indexes[len(indexes)-1])
	default:
		res.Verdict, res.Converged = Valid, true
		res.Message = fmt.Sprintf("%d nodes converged at applied index %d", len(states), indexes[0])
	}
	return res
}
