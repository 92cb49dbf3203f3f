package raft

import (
	"errors"
	"reflect"
	"sync"
	"testing"
)

func ents(terms ...uint64) []Entry {
	out := make([]Entry, len(terms))
	for i, t := range terms {
		out[i] = Entry{Index: uint64(i + 1), Term: t}
	}
	return out
}

func TestMemoryStorageEmpty(t *testing.T) {
	ms := NewMemoryStorage()
	fi, _ := ms.FirstIndex()
	li, _ := ms.LastIndex()
	if fi != 1 || li != 0 {
		t.Fatalf("first, last = %d, %d; want 1, 0", fi, li)
	}
	if term, err := ms.Term(0); err != nil || term != 0 {
		t.Fatalf("Term(0) = %d, %v; want 0, nil", term, err)
	}
	if _, err := ms.Term(1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Term(1) err = %v; want ErrUnavailable", err)
	}
}

func TestMemoryStorageSaveTruncatesConflictingSuffix(t *testing.T) {
	// Reference: paper §5.3 — a follower deletes a conflicting entry and all
	// that follow it.
	ms := NewMemoryStorage()
	if err := ms.Save(HardState{Term: 1}, ents(1, 1, 1, 2, 2), Snapshot{}, true); err != nil {
		t.Fatal(err)
	}
	if err := ms.Save(HardState{}, []Entry{{Index: 3, Term: 3}}, Snapshot{}, true); err != nil {
		t.Fatal(err)
	}
	li, _ := ms.LastIndex()
	if li != 3 {
		t.Fatalf("last = %d, want 3", li)
	}
	got, err := ms.Entries(1, 4, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	hs, _, _ := ms.InitialState()
	if hs.Term != 1 {
		t.Fatalf("hard state not kept when Save gets an empty one: %+v", hs)
	}
	// A gap is refused.
	if err := ms.Save(HardState{}, []Entry{{Index: 9, Term: 3}}, Snapshot{}, true); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("gap: err = %v, want ErrUnavailable", err)
	}
}

func TestMemoryStorageEntriesSizeLimit(t *testing.T) {
	ms := NewMemoryStorage()
	e := ents(1, 1, 1, 1)
	for i := range e {
		e[i].Data = make([]byte, 76) // Size() == 100
	}
	_ = ms.Append(e)
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {99, 1}, {100, 1}, {200, 2}, {399, 3}, {noLimit, 4}} {
		got, err := ms.Entries(1, 5, tc.max)
		if err != nil || len(got) != tc.want {
			t.Errorf("Entries(1,5,%d) = %d entries, %v; want %d", tc.max, len(got), err, tc.want)
		}
	}
	if _, err := ms.Entries(1, 6, noLimit); !errors.Is(err, ErrUnavailable) {
		t.Errorf("beyond last: err = %v", err)
	}
}

func TestMemoryStorageSnapshotAndCompact(t *testing.T) {
	ms := NewMemoryStorage()
	_ = ms.Append(ents(1, 1, 2, 2, 3))
	cs := ConfState{Voters: []uint64{1, 2, 3}}
	if err := ms.Compact(3); err == nil {
		t.Fatal("Compact above the snapshot index must fail")
	}
	snap, err := ms.CreateSnapshot(3, cs, []byte("state"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Metadata.Index != 3 || snap.Metadata.Term != 2 || !snap.Metadata.ConfState.Equal(cs) {
		t.Fatalf("snapshot metadata = %+v", snap.Metadata)
	}
	if _, err := ms.CreateSnapshot(2, cs, nil); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("older snapshot: err = %v", err)
	}
	// CreateSnapshot does not compact.
	if fi, _ := ms.FirstIndex(); fi != 1 {
		t.Fatalf("first index after CreateSnapshot = %d, want 1", fi)
	}
	if err := ms.Compact(3); err != nil {
		t.Fatal(err)
	}
	if fi, _ := ms.FirstIndex(); fi != 4 {
		t.Fatalf("first index after Compact(3) = %d, want 4", fi)
	}
	if term, err := ms.Term(3); err != nil || term != 2 {
		t.Fatalf("Term(3) after compaction = %d, %v; want 2, nil (dummy entry)", term, err)
	}
	if _, err := ms.Term(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Term(2) err = %v, want ErrCompacted", err)
	}
	if _, err := ms.Entries(3, 5, noLimit); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(3,..) err = %v, want ErrCompacted", err)
	}
	if err := ms.Compact(2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Compact(2) again: err = %v, want ErrCompacted", err)
	}
	_, gotCS, _ := ms.InitialState()
	if !gotCS.Equal(cs) {
		t.Fatalf("InitialState conf = %+v", gotCS)
	}
	// Appending entries that are partly compacted keeps only the new part.
	if err := ms.Append([]Entry{{Index: 2, Term: 1}, {Index: 3, Term: 2}, {Index: 4, Term: 2}, {Index: 5, Term: 3}, {Index: 6, Term: 3}}); err != nil {
		t.Fatal(err)
	}
	if li, _ := ms.LastIndex(); li != 6 {
		t.Fatalf("last = %d, want 6", li)
	}
}

func TestMemoryStorageApplySnapshot(t *testing.T) {
	ms := NewMemoryStorage()
	_ = ms.Append(ents(1, 1, 1))
	snap := Snapshot{Data: []byte("x"), Metadata: SnapshotMetadata{Index: 10, Term: 4, ConfState: ConfState{Voters: []uint64{1}}}}
	if err := ms.Save(HardState{Term: 4, Commit: 10}, []Entry{{Index: 11, Term: 4}}, snap, true); err != nil {
		t.Fatal(err)
	}
	fi, _ := ms.FirstIndex()
	li, _ := ms.LastIndex()
	if fi != 11 || li != 11 {
		t.Fatalf("first, last = %d, %d; want 11, 11", fi, li)
	}
	if term, _ := ms.Term(10); term != 4 {
		t.Fatalf("Term(10) = %d, want 4", term)
	}
	if err := ms.ApplySnapshot(snap); !errors.Is(err, ErrSnapOutOfDate) {
		t.Fatalf("same snapshot again: err = %v", err)
	}
}

func TestMemoryStorageEntriesNotAliased(t *testing.T) {
	ms := NewMemoryStorage()
	_ = ms.Append(ents(1, 1, 1))
	got, _ := ms.Entries(1, 3, noLimit)
	got = append(got, Entry{Index: 99})
	_ = got
	got2, _ := ms.Entries(1, 4, noLimit)
	if got2[2].Index != 3 {
		t.Fatal("appending to a returned slice changed the storage")
	}
}

func TestMemoryStorageConcurrent(t *testing.T) {
	ms := NewMemoryStorage()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := uint64(1); i <= 200; i++ {
			_ = ms.Save(HardState{Term: 1, Commit: i}, []Entry{{Index: i, Term: 1}}, Snapshot{}, false)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			li, _ := ms.LastIndex()
			fi, _ := ms.FirstIndex()
			if li >= fi {
				if _, err := ms.Entries(fi, li+1, noLimit); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
}
