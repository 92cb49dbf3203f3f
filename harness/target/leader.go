package target

// LeaderReport is one node's answer to "who leads": the leader it names
// (the zero value: none) and the term it is in.
type LeaderReport[K comparable] struct {
	Leader K
	Term   uint64
}

// LeaderByVotes is the leader the reports agree on: the named leader with
// the highest term, then the most reports, then the first in before's
// order. Stale leaders of older terms lose to the newest; a node that
// names no leader does not vote. ok is false when no report names one.
func LeaderByVotes[K comparable](reports []LeaderReport[K], before func(a, b K) bool) (leader K, ok bool) {
	type vote struct {
		term  uint64
		count int
	}
	var zero K
	votes := map[K]*vote{}
	var order []K
	for _, r := range reports {
		if r.Leader == zero {
			continue
		}
		v := votes[r.Leader]
		if v == nil {
			v = &vote{}
			votes[r.Leader] = v
			order = append(order, r.Leader)
		}
		v.count++
		v.term = max(v.term, r.Term)
	}
	var best vote
	for _, k := range order {
		v := votes[k]
		if !ok || v.term > best.term || v.term == best.term && (v.count > best.count || v.count == best.count && before(k, leader)) {
			leader, best, ok = k, *v, true
		}
	}
	return leader, ok
}
