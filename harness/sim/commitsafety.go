package sim

import (
	"fmt"
	"strings"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/raft"
)

// Commit safety, checked at the moment of each commit.
//
// A leader may call an entry committed only when no future election can
// produce a leader without it (Raft §5.4: the commit rule and the
// election restriction together). The simulation sees every node's disk,
// so it can check that directly, whatever rule the leader used: when a
// leader first commits index i, every voter X whose log lacks the entry at
// i is a would-be candidate, and the voters whose durable logs are no more
// up to date than X's (§5.4.1's comparison, with their own vote) would
// grant it their votes. If they make a quorum, X can be elected and will
// overwrite the entry on the others: the commit was premature, though no
// crash or election has happened yet to show it. That is the Figure 8
// hazard seen when it is created rather than in the rare schedule that
// turns it into a lost write, and a commit counted on copies that are not
// yet on disk (the leader's own, or a follower's) shows up the same way.
//
// Why it cannot fire on a correct cluster: a committed entry is durable on
// a quorum whose logs end with an entry of the committing leader's term at
// or after it; a voter lacking it has a log that ends in that term before
// it, or in an earlier term, so it is less up to date than every member of
// that quorum and gets votes only outside it — fewer than a quorum. (A
// log ending in a later term holds the entry: Leader Completeness.)

// logView is one version of a node's log: what it holds now, or what a
// crash would leave of it.
type logView struct {
	lastIndex, lastTerm uint64
	// termAt is the term of entry i (ok false: the log has no entry i). A
	// snapshot at or after i holds what was committed there: has is true.
	termAt func(i uint64) (term uint64, has bool, ok bool)
}

func viewOf(st raft.Storage) (logView, bool) {
	if st == nil {
		return logView{}, false
	}
	last, err := st.LastIndex()
	if err != nil {
		return logView{}, false
	}
	snap, err := st.Snapshot()
	if err != nil {
		return logView{}, false
	}
	term := func(i uint64) (uint64, bool) { return storedTerm(st, snap.Metadata, i) }
	lastTerm, ok := term(last)
	if !ok {
		return logView{}, false
	}
	return logView{lastIndex: last, lastTerm: lastTerm, termAt: func(i uint64) (uint64, bool, bool) {
		if i <= snap.Metadata.Index {
			return 0, true, true
		}
		t, ok := term(i)
		return t, false, ok
	}}, true
}

// atLeastAsUpToDate is the election restriction's comparison (§5.4.1).
func (v logView) atLeastAsUpToDate(o logView) bool {
	return v.lastTerm > o.lastTerm || v.lastTerm == o.lastTerm && v.lastIndex >= o.lastIndex
}

// checkCommitSafety checks leader l's commit of e (see above).
func (s *sim) checkCommitSafety(l *snode, e raft.Entry) {
	voters := l.confState.Voters
	quorum := len(voters)/2 + 1
	type voter struct {
		n       *snode
		durable logView
		views   []logView // the logs it could campaign with
	}
	var vs []voter
	for _, id := range voters {
		n := s.byID[id]
		if n == nil || n.id != id {
			continue // an incarnation that is gone: it neither votes nor campaigns
		}
		d, ok := viewOf(n.durable)
		if !ok {
			continue
		}
		v := voter{n: n, durable: d, views: []logView{d}}
		if n.state != cluster.Down && n.disk != nil {
			if cur, ok := viewOf(n.disk); ok {
				v.views = append(v.views, cur)
			}
		}
		vs = append(vs, v)
	}
	for _, x := range vs {
		for _, xv := range x.views {
			t, has, ok := xv.termAt(e.Index)
			if has || ok && t == e.Term {
				continue
			}
			grant := []string{x.n.name}
			for _, y := range vs {
				if y.n != x.n && xv.atLeastAsUpToDate(y.durable) {
					grant = append(grant, y.n.name)
				}
			}
			if len(grant) >= quorum {
				s.observe(fmt.Errorf("commit safety violated: %s, leader of term %d, committed index %d (term %d), but %s, whose log (last entry %d of term %d) does not hold it, can still be elected by %s (their logs are no more up to date, §5.4.1) and would overwrite it",
					l.name, l.drv.Term(), e.Index, e.Term, x.n.name, xv.lastIndex, xv.lastTerm, strings.Join(grant, ", ")))
				return
			}
		}
	}
}
