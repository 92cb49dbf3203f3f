package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// populate applies a pseudo-random workload with sessions and members.
func populate(t *testing.T, seed uint64, n int) *applier {
	a := newApplier(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	a.f.SetMember(Member{Name: "node0", RaftID: 11, RaftAddr: "h:7000", APIAddr: "h:8000"})
	a.do(Command{Op: OpMembers, Members: []Member{{Name: "node1", RaftID: 12, RaftAddr: "h:7001", APIAddr: "h:8001", StayLearner: true}}})
	for i := range n {
		k := fmt.Sprint("k", rng.IntN(20))
		c := Command{Key: k, Value: fmt.Sprint(i)}
		switch rng.IntN(4) {
		case 0:
			c.Op = OpDelete
		case 1:
			c.Op, c.Expected = OpCAS, fmt.Sprint(i-1-rng.IntN(3))
		default:
			c.Op = OpSet
		}
		if rng.IntN(2) == 0 {
			c.ClientID, c.RequestID = fmt.Sprint("c", rng.IntN(5)), uint64(i)
		}
		a.do(c)
	}
	return a
}

func TestSnapshotRoundTrip(t *testing.T) {
	a := populate(t, 1, 500)
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := New()
	g.ApplyCommand(1, Command{Op: OpSet, Key: "junk", Value: "x"})
	if err := g.Restore(snap); err != nil {
		t.Fatal(err)
	}
	ai, ah := a.f.StateHash()
	gi, gh := g.StateHash()
	if ai != gi || ah != gh {
		t.Fatalf("state hash after restore: (%d,%s), want (%d,%s)", gi, gh, ai, ah)
	}
	if _, ok, _ := g.Get("junk"); ok {
		t.Fatal("restore kept old keys")
	}
	if fmt.Sprint(g.Members()) != fmt.Sprint(a.f.Members()) || len(g.Members()) != 2 {
		t.Fatalf("members: %v vs %v", g.Members(), a.f.Members())
	}
	snap2, _ := g.Snapshot()
	if !bytes.Equal(snap, snap2) {
		t.Fatal("snapshot of a restored state differs")
	}
	// Sessions survive: continuing both with the same commands (including
	// retries of old requests) gives identical results.
	b := &applier{t: t, f: g, idx: a.idx}
	for i := range 5 {
		c := Command{Op: OpCAS, Key: "k1", Expected: "x", Value: "y", ClientID: fmt.Sprint("c", i), RequestID: uint64(495 + i)}
		if ra, rb := a.do(c), b.do(c); ra != rb {
			t.Fatalf("after restore: %+v vs %+v", rb, ra)
		}
	}
}

func TestRestoreCorrupt(t *testing.T) {
	a := populate(t, 2, 50)
	snap, _ := a.f.Snapshot()
	g := populate(t, 3, 20).f
	_, before := g.StateHash()
	check := func(name string, data []byte) {
		t.Helper()
		if err := g.Restore(data); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: Restore = %v, want ErrCorruptSnapshot", name, err)
		}
		if _, h := g.StateHash(); h != before {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
	check("empty", nil)
	check("garbage", []byte("hello world, not a snapshot"))
	for i := 0; i < len(snap); i += 7 {
		check(fmt.Sprint("truncated to ", i), snap[:i])
	}
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x10
		check(fmt.Sprint("bit flip at ", i), bad)
	}
	check("trailing", append(bytes.Clone(snap), 0))
}

func TestStateHashDeterministic(t *testing.T) {
	_, h0 := New().StateHash()
	// The same final map reached by different histories hashes the same.
	f1, f2 := New(), New()
	f1.ApplyCommand(1, Command{Op: OpSet, Key: "a", Value: "1"})
	f1.ApplyCommand(2, Command{Op: OpSet, Key: "b", Value: "2"})
	f2.ApplyCommand(1, Command{Op: OpSet, Key: "b", Value: "x"})
	f2.ApplyCommand(2, Command{Op: OpSet, Key: "a", Value: "1"})
	f2.ApplyCommand(3, Command{Op: OpCAS, Key: "b", Expected: "x", Value: "2"})
	f2.ApplyCommand(4, Command{Op: OpSet, Key: "c", Value: "3"})
	f2.ApplyCommand(5, Command{Op: OpDelete, Key: "c"})
	_, h1 := f1.StateHash()
	_, h2 := f2.StateHash()
	if h1 != h2 {
		t.Fatalf("hashes differ for equal maps: %s %s", h1, h2)
	}
	if h1 == h0 {
		t.Fatal("non-empty map hashes like the empty map")
	}
	// Deleting everything returns to the empty hash.
	f1.ApplyCommand(3, Command{Op: OpDelete, Key: "a"})
	f1.ApplyCommand(4, Command{Op: OpDelete, Key: "b"})
	if _, h := f1.StateHash(); h != h0 {
		t.Fatalf("empty again: %s, want %s", h, h0)
	}
	// Key/value boundaries matter.
	g1, g2 := New(), New()
	g1.ApplyCommand(1, Command{Op: OpSet, Key: "ab", Value: "c"})
	g2.ApplyCommand(1, Command{Op: OpSet, Key: "a", Value: "bc"})
	if _, x := g1.StateHash(); func() bool { _, y := g2.StateHash(); return x == y }() {
		t.Fatal("(ab,c) and (a,bc) hash equal")
	}
	// The maintained hash equals one recomputed from scratch (a restore
	// recomputes it from the pairs).
	a := populate(t, 4, 300)
	snap, _ := a.f.Snapshot()
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	_, want := r.StateHash()
	if _, got := a.f.StateHash(); got != want {
		t.Fatalf("maintained hash %s, recomputed %s", got, want)
	}
	// Two replicas of the same workload agree.
	if _, h := populate(t, 4, 300).f.StateHash(); h != want {
		t.Fatal("replicas of the same log disagree")
	}
}

// TestCaptureIsAPointInTimeCopy: what CaptureSnapshot's encode function
// returns is the state at the capture, byte for byte, even when commands
// are applied while it encodes (run with -race: the encoding shares no
// mutable data with the live state).
func TestCaptureIsAPointInTimeCopy(t *testing.T) {
	a := populate(t, 3, 400)
	want, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	encode, err := a.f.CaptureSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		got, err := encode()
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	for i := range 300 {
		c := Command{Op: OpSet, Key: fmt.Sprint("k", i%30), Value: "later", ClientID: fmt.Sprint("c", i%7), RequestID: uint64(1000 + i)}
		a.do(c)
	}
	a.f.SetMember(Member{Name: "node9", RaftID: 19, RaftAddr: "h:7009", APIAddr: "h:8009"})
	got := <-done
	if !bytes.Equal(got, want) {
		t.Fatal("the captured snapshot differs from the state at the capture")
	}
	now, _ := a.f.Snapshot()
	if bytes.Equal(now, want) {
		t.Fatal("the later commands did not change the state; the test proves nothing")
	}
}

// TestRemovedSurviveSnapshot: tombstones travel in snapshots (a replica
// that restores one still refuses the removed IDs), a removed ID is not
// named again by a late address update, and a version-1 snapshot (before
// tombstones) still restores.
func TestRemovedSurviveSnapshot(t *testing.T) {
	a := populate(t, 2, 50)
	a.f.SetMember(Member{Name: "node2", RaftID: 13})
	a.f.RemoveMember(13, "")
	a.f.RemoveMember(99, "node9") // not in the table: the caller names it
	a.do(Command{Op: OpMembers, Members: []Member{{Name: "node2", RaftID: 13, RaftAddr: "h:7002"}}})
	if _, ok := a.f.Member(13); ok {
		t.Fatal("an address update brought a removed member back")
	}
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if name, ok := g.Removed(13); !ok || name != "node2" {
		t.Fatalf("Removed(13) = %q, %v after restore", name, ok)
	}
	if name, ok := g.Removed(99); !ok || name != "node9" {
		t.Fatalf("Removed(99) = %q, %v after restore", name, ok)
	}
	g.SetMember(Member{Name: "node2", RaftID: 13})
	if _, ok := g.Member(13); ok {
		t.Fatal("SetMember recorded a removed raft ID")
	}

	// A version-1 snapshot is the version-2 encoding of a state without
	// tombstones, minus the (zero) tombstone count.
	b := populate(t, 3, 50)
	v2, _ := b.f.Snapshot()
	body := append([]byte{}, v2[:len(v2)-5]...) // drop the count 0 and the CRC
	body[len(snapshotMagic)] = 1
	v1 := binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	h := New()
	if err := h.Restore(v1); err != nil {
		t.Fatalf("restoring a version-1 snapshot: %v", err)
	}
	if len(h.RemovedIDs()) != 0 || len(h.Members()) != 2 {
		t.Fatalf("version-1 restore: removed %v, members %v", h.RemovedIDs(), h.Members())
	}
}

// The client sessions are part of the state hash: a snapshot carries them
// (the restored replica hashes the same), replicas whose sessions differ
// hash differently even with equal key-value pairs, and the maintained sum
// equals one recomputed from the sessions held, through dedup hits, stale
// requests and evictions.
func TestStateHashCoversSessions(t *testing.T) {
	f := New()
	idx := uint64(0)
	apply := func(f *FSM, c Command) Result { idx++; return f.ApplyCommand(idx, c) }
	for i := range MaxSessions + 50 { // past MaxSessions: evictions
		cid := fmt.Sprintf("c%d", i%(MaxSessions+20))
		apply(f, Command{Op: OpSet, Key: "k", Value: fmt.Sprint(i), ClientID: cid, RequestID: uint64(1 + i/(MaxSessions+20))})
		if i%7 == 0 { // a retry: a dedup hit
			apply(f, Command{Op: OpSet, Key: "k", Value: fmt.Sprint(i), ClientID: cid, RequestID: uint64(1 + i/(MaxSessions+20))})
		}
		if i%11 == 0 { // a stale request: refused, nothing changes
			apply(f, Command{Op: OpSet, Key: "k", Value: "stale", ClientID: cid, RequestID: 0})
		}
	}
	var recomputed sum256
	for cid, s := range f.sessions {
		recomputed.add(sessionHash(cid, s))
	}
	if recomputed != f.sessionSum {
		t.Fatal("the maintained session sum differs from one recomputed from the sessions held")
	}
	if len(f.sessions) > MaxSessions {
		t.Fatalf("%d sessions held, above MaxSessions %d", len(f.sessions), MaxSessions)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(snap); err != nil {
		t.Fatal(err)
	}
	_, fh := f.StateHash()
	if _, gh := g.StateHash(); gh != fh {
		t.Fatalf("restored state hashes %s, want %s", gh, fh)
	}

	// The same pairs, different sessions: one more client wrote the same
	// value over itself.
	a, b := New(), New()
	a.ApplyCommand(1, Command{Op: OpSet, Key: "x", Value: "1", ClientID: "p", RequestID: 1})
	b.ApplyCommand(1, Command{Op: OpSet, Key: "x", Value: "1", ClientID: "q", RequestID: 1})
	_, ah := a.StateHash()
	if _, bh := b.StateHash(); ah == bh {
		t.Fatal("replicas with different sessions hash the same")
	}
}
