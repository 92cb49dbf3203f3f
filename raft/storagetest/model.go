package storagetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftkv/raftkv/raft"
)

// model is the naive reference log the randomized tests compare a store
// against: a slice of entries after a marker, written to be obviously
// right rather than fast.
type model struct {
	hs   raft.HardState
	snap raft.Snapshot
	// markIndex/markTerm: the entry just before the first one in ents.
	markIndex, markTerm uint64
	ents                []raft.Entry
}

func (m *model) first() uint64 { return m.markIndex + 1 }
func (m *model) last() uint64  { return m.markIndex + uint64(len(m.ents)) }

func (m *model) term(i uint64) uint64 {
	if i == m.markIndex {
		return m.markTerm
	}
	return m.ents[i-m.first()].Term
}

// entries is the longest prefix of [lo, hi) whose sizes sum to at most
// maxSize, or its first entry.
func (m *model) entries(lo, hi, maxSize uint64) []raft.Entry {
	var out []raft.Entry
	var size uint64
	for _, e := range m.ents[lo-m.first() : hi-m.first()] {
		size += e.Size()
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out
}

func (m *model) save(hs raft.HardState, ents []raft.Entry, snap raft.Snapshot) {
	if !snap.IsEmpty() {
		m.snap = normSnap(snap)
		m.markIndex, m.markTerm = snap.Metadata.Index, snap.Metadata.Term
		m.ents = nil
	}
	for _, e := range ents {
		switch {
		case e.Index < m.first():
			// already in the snapshot
		case e.Index <= m.last():
			m.ents = append(m.ents[:e.Index-m.first():e.Index-m.first()], e)
		default:
			m.ents = append(m.ents, e)
		}
	}
	if !hs.IsEmpty() {
		m.hs = hs
	}
}

func (m *model) createSnapshot(i uint64, cs raft.ConfState, data []byte) {
	m.snap = normSnap(raft.Snapshot{Data: data, Metadata: raft.SnapshotMetadata{Index: i, Term: m.term(i), ConfState: cs}})
}

func (m *model) compact(i uint64) {
	m.markTerm = m.term(i)
	m.ents = append([]raft.Entry(nil), m.ents[i-m.first()+1:]...)
	m.markIndex = i
}

func (m *model) state() State {
	st := State{
		HardState: m.hs,
		ConfState: m.snap.Metadata.ConfState,
		First:     m.first(),
		Last:      m.last(),
		Entries:   normEntries(m.ents),
		Snapshot:  m.snap,
	}
	for i := m.markIndex; i <= m.last(); i++ {
		st.Terms = append(st.Terms, m.term(i))
	}
	return st
}

// randomOps applies n random operations, each one a driver could issue to
// a correct store, to s and to the model, and compares the two after each.
// Every reopenEvery operations (if > 0) it calls reopen, which returns the
// store to continue with. Operations:
//
//   - append a batch at a random point in (commit, last+1], possibly
//     overwriting a suffix, with a hard state or not;
//   - save a snapshot beyond the log (a follower catching up), with the hard
//     state committing it and sometimes entries after it;
//   - create a snapshot at an index in (snapshot, commit];
//   - compact to an index in [first, snapshot].
func randomOps(t *testing.T, seed uint64, n, reopenEvery int, s raft.LogStore, reopen func(raft.LogStore) raft.LogStore) raft.LogStore {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var m model
	term := uint64(1)
	randEnts := func(lo uint64, k int) []raft.Entry {
		prev := term
		if lo-1 >= m.markIndex && lo-1 <= m.last() && m.term(lo-1) > prev {
			prev = m.term(lo - 1)
		}
		var out []raft.Entry
		for i := range k {
			if rng.IntN(4) == 0 {
				prev++
			}
			e := raft.Entry{Index: lo + uint64(i), Term: prev, Type: raft.EntryType(rng.IntN(2))}
			if rng.IntN(5) > 0 {
				e.Data = fmt.Appendf(nil, "seed%d-%d-%d", seed, e.Index, rng.Uint64())
			}
			out = append(out, e)
		}
		if prev > term {
			term = prev
		}
		return out
	}
	for op := range n {
		var desc string
		switch r := rng.IntN(10); {
		case r < 6: // append, maybe overwriting
			lo := max(m.first(), m.hs.Commit+1)
			start := lo + rng.Uint64N(m.last()+2-lo)
			ents := randEnts(start, 1+rng.IntN(6))
			var hs raft.HardState
			if rng.IntN(2) == 0 {
				last := ents[len(ents)-1].Index
				hs = raft.HardState{Term: term, Vote: rng.Uint64N(4), Commit: m.hs.Commit + rng.Uint64N(last-m.hs.Commit+1)}
			}
			desc = fmt.Sprintf("Save(%+v, entries [%d, %d], no snapshot)", hs, start, ents[len(ents)-1].Index)
			require.NoError(t, s.Save(hs, ents, raft.Snapshot{}, rng.IntN(2) == 0), desc)
			m.save(hs, ents, raft.Snapshot{})
		case r < 7: // install a snapshot from the leader
			i := m.last() + 1 + rng.Uint64N(8)
			term += rng.Uint64N(2)
			snap := raft.Snapshot{
				Data:     fmt.Appendf(nil, "snapshot-%d", i),
				Metadata: raft.SnapshotMetadata{Index: i, Term: term, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}[:1+rng.IntN(3)], Learners: []uint64{9}[:rng.IntN(2)]}},
			}
			var ents []raft.Entry
			if rng.IntN(2) == 0 {
				ents = randEnts(i+1, 1+rng.IntN(3))
			}
			hs := raft.HardState{Term: term, Commit: i}
			desc = fmt.Sprintf("Save(%+v, %d entries, snapshot %d/%d)", hs, len(ents), i, snap.Metadata.Term)
			require.NoError(t, s.Save(hs, ents, snap, true), desc)
			m.save(hs, ents, snap)
		case r < 9: // the state machine snapshots what it applied
			if m.hs.Commit <= m.snap.Metadata.Index {
				continue
			}
			i := m.snap.Metadata.Index + 1 + rng.Uint64N(m.hs.Commit-m.snap.Metadata.Index)
			cs := raft.ConfState{Voters: []uint64{1, 2, 3, 4}[:1+rng.IntN(4)]}
			data := fmt.Appendf(nil, "created-%d", i)
			desc = fmt.Sprintf("CreateSnapshot(%d)", i)
			got, err := s.CreateSnapshot(i, cs, data)
			require.NoError(t, err, desc)
			m.createSnapshot(i, cs, data)
			require.Equal(t, m.snap, normSnap(got), desc)
		default: // compact behind the snapshot
			if m.snap.Metadata.Index < m.first() {
				continue
			}
			i := m.first() + rng.Uint64N(m.snap.Metadata.Index-m.first()+1)
			desc = fmt.Sprintf("Compact(%d)", i)
			require.NoError(t, s.Compact(i), desc)
			m.compact(i)
		}
		if reopenEvery > 0 && (op+1)%reopenEvery == 0 {
			s = reopen(s)
			desc += " and reopen"
		}
		require.Equal(t, m.state(), Observe(t, s), "after op %d: %s", op, desc)
		if m.last() >= m.first() {
			// A random window with a random size limit.
			lo := m.first() + rng.Uint64N(m.last()-m.first()+1)
			hi := lo + 1 + rng.Uint64N(m.last()-lo+1)
			maxSize := rng.Uint64N(200)
			got, err := s.Entries(lo, hi, maxSize)
			require.NoError(t, err, "Entries(%d, %d, %d)", lo, hi, maxSize)
			requireEntries(t, m.entries(lo, hi, maxSize), got, "Entries(%d, %d, %d) after op %d", lo, hi, maxSize, op)
		}
	}
	return s
}
