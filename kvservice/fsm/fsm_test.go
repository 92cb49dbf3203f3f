package fsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// applier hands out increasing indexes, as a log would.
type applier struct {
	t   *testing.T
	f   *FSM
	idx uint64
}

func newApplier(t *testing.T) *applier { return &applier{t: t, f: New()} }

func (a *applier) do(c Command) Result {
	a.t.Helper()
	a.idx++
	return a.f.ApplyCommand(a.idx, c)
}

func TestSemantics(t *testing.T) {
	a := newApplier(t)
	steps := []struct {
		c    Command
		want Result
	}{
		{Command{Op: OpGet, Key: "k"}, Result{Op: OpGet, Key: "k"}},
		{Command{Op: OpDelete, Key: "k"}, Result{Op: OpDelete, Key: "k"}},
		{Command{Op: OpCAS, Key: "k", Expected: "", Value: "x"}, Result{Op: OpCAS, Key: "k"}}, // a cas on a missing key never succeeds
		{Command{Op: OpSet, Key: "k", Value: "v1"}, Result{Op: OpSet, Key: "k", Value: "v1", Found: true}},
		{Command{Op: OpGet, Key: "k"}, Result{Op: OpGet, Key: "k", Value: "v1", Found: true}},
		{Command{Op: OpCAS, Key: "k", Expected: "nope", Value: "v2"}, Result{Op: OpCAS, Key: "k", Value: "v1", Found: true}},
		{Command{Op: OpCAS, Key: "k", Expected: "v1", Value: "v2"}, Result{Op: OpCAS, Key: "k", Value: "v2", Found: true, Succeeded: true}},
		{Command{Op: OpGet, Key: "k"}, Result{Op: OpGet, Key: "k", Value: "v2", Found: true}},
		{Command{Op: OpSet, Key: "e", Value: ""}, Result{Op: OpSet, Key: "e", Value: "", Found: true}},
		{Command{Op: OpCAS, Key: "e", Expected: "", Value: "z"}, Result{Op: OpCAS, Key: "e", Value: "z", Found: true, Succeeded: true}},
		{Command{Op: OpDelete, Key: "k"}, Result{Op: OpDelete, Key: "k", Found: true}},
		{Command{Op: OpGet, Key: "k"}, Result{Op: OpGet, Key: "k"}},
		{Command{Op: OpDelete, Key: "k"}, Result{Op: OpDelete, Key: "k"}},
	}
	for i, s := range steps {
		got := a.do(s.c)
		s.want.Index = a.idx
		if got != s.want {
			t.Fatalf("step %d %v: got %+v, want %+v", i, s.c.Op, got, s.want)
		}
	}
	if v, ok, applied := a.f.Get("e"); !ok || v != "z" || applied != a.idx {
		t.Fatalf("Get(e) = %q %v %d", v, ok, applied)
	}
}

func TestDuplicateReturnsSavedResult(t *testing.T) {
	a := newApplier(t)
	a.do(Command{Op: OpSet, Key: "k", Value: "a"})
	first := a.do(Command{Op: OpDelete, Key: "k", ClientID: "c1", RequestID: 1})
	if !first.Found || first.Duplicate {
		t.Fatalf("first delete: %+v", first)
	}
	a.do(Command{Op: OpSet, Key: "k", Value: "b"})
	// A retry of request 1 must not delete the new value and must report
	// what the first application reported.
	dup := a.do(Command{Op: OpDelete, Key: "k", ClientID: "c1", RequestID: 1})
	if !dup.Duplicate || !dup.Found || dup.Index != first.Index {
		t.Fatalf("duplicate: %+v, first %+v", dup, first)
	}
	if v, ok, _ := a.f.Get("k"); !ok || v != "b" {
		t.Fatalf("duplicate was applied: k=%q %v", v, ok)
	}
	// cas retried after someone else changed the value: saved success.
	a.do(Command{Op: OpSet, Key: "c", Value: "0"})
	r := a.do(Command{Op: OpCAS, Key: "c", Expected: "0", Value: "1", ClientID: "c1", RequestID: 2})
	a.do(Command{Op: OpSet, Key: "c", Value: "0"})
	r2 := a.do(Command{Op: OpCAS, Key: "c", Expected: "0", Value: "1", ClientID: "c1", RequestID: 2})
	if !r.Succeeded || !r2.Succeeded || !r2.Duplicate {
		t.Fatalf("cas dedup: %+v %+v", r, r2)
	}
	if v, _, _ := a.f.Get("c"); v != "0" {
		t.Fatalf("duplicate cas applied: c=%q", v)
	}
	// Another client with the same request ID is independent.
	r3 := a.do(Command{Op: OpCAS, Key: "c", Expected: "0", Value: "1", ClientID: "c2", RequestID: 2})
	if !r3.Succeeded || r3.Duplicate {
		t.Fatalf("other client: %+v", r3)
	}
}

func TestStaleRequestRejected(t *testing.T) {
	a := newApplier(t)
	a.do(Command{Op: OpSet, Key: "k", Value: "5", ClientID: "c", RequestID: 5})
	r := a.do(Command{Op: OpSet, Key: "k", Value: "4", ClientID: "c", RequestID: 4})
	if !errors.Is(r.Err, ErrStaleRequest) {
		t.Fatalf("got %+v, want ErrStaleRequest", r)
	}
	if v, _, _ := a.f.Get("k"); v != "5" {
		t.Fatalf("stale request applied: %q", v)
	}
	// The session still answers its last request.
	if d := a.do(Command{Op: OpSet, Key: "k", Value: "5", ClientID: "c", RequestID: 5}); !d.Duplicate {
		t.Fatalf("after stale: %+v", d)
	}
	if r := a.do(Command{Op: OpSet, Key: "k", Value: "6", ClientID: "c", RequestID: 6}); r.Duplicate || r.Err != nil {
		t.Fatalf("next request: %+v", r)
	}
}

func TestSessionExpiresByIndex(t *testing.T) {
	f := New()
	f.ApplyCommand(1, Command{Op: OpSet, Key: "k", Value: "a", ClientID: "c", RequestID: 1})
	f.ApplyCommand(2, Command{Op: OpSet, Key: "k", Value: "b"})
	// Within the window a retry is a duplicate...
	if r := f.ApplyCommand(1+SessionWindow, Command{Op: OpSet, Key: "k", Value: "a", ClientID: "c", RequestID: 1}); !r.Duplicate {
		t.Fatalf("within window: %+v", r)
	}
	// ...and using the session renewed it; past the window from the last
	// use the client is a stranger and the request applies.
	idx := uint64(2 + 2*SessionWindow)
	r := f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "a2", ClientID: "c", RequestID: 1})
	if r.Duplicate {
		t.Fatalf("expired session still deduplicated: %+v", r)
	}
	// Garbage collection freed nothing that was live.
	if f.Sessions() != 1 {
		t.Fatalf("sessions = %d", f.Sessions())
	}
}

func TestMaxSessionsEvictsLeastRecentlyUsed(t *testing.T) {
	f := New()
	idx := uint64(0)
	for i := range MaxSessions {
		idx++
		f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "v", ClientID: fmt.Sprint("c", i), RequestID: 1})
	}
	// Touch c0 so c1 becomes the least recently used.
	idx++
	f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "v", ClientID: "c0", RequestID: 2})
	idx++
	f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "v", ClientID: "new", RequestID: 1})
	if f.Sessions() != MaxSessions {
		t.Fatalf("sessions = %d", f.Sessions())
	}
	idx++
	if r := f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "v", ClientID: "c0", RequestID: 2}); !r.Duplicate {
		t.Fatal("c0 was evicted")
	}
	idx++
	if r := f.ApplyCommand(idx, Command{Op: OpSet, Key: "k", Value: "v", ClientID: "c1", RequestID: 1}); r.Duplicate {
		t.Fatal("c1 was not evicted")
	}
}

func TestAlreadyAppliedIndex(t *testing.T) {
	f := New()
	f.ApplyCommand(5, Command{Op: OpSet, Key: "k", Value: "a"})
	r := f.ApplyCommand(5, Command{Op: OpSet, Key: "k", Value: "b"})
	if !errors.Is(r.Err, ErrAlreadyApplied) {
		t.Fatalf("got %+v", r)
	}
	if v, _, _ := f.Get("k"); v != "a" {
		t.Fatalf("k = %q", v)
	}
}

func TestBadCommand(t *testing.T) {
	f := New()
	r := f.Apply(1, []byte{9, 9, 9}).(Result)
	if !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("got %+v", r)
	}
	if f.Applied() != 1 {
		t.Fatalf("a bad entry still occupies its index: applied = %d", f.Applied())
	}
}

func TestCommandRoundTrip(t *testing.T) {
	cs := []Command{
		{Op: OpSet, Key: "k", Value: "v"},
		{Op: OpCAS, Key: "k\x00", Value: strings.Repeat("x", 300), Expected: "é", ClientID: "c-1", RequestID: 1 << 60},
		{Op: OpDelete, Key: "k"},
		{Op: OpGet, Key: ""},
		{Op: OpMembers, Members: []Member{{Name: "node0", RaftID: 7, RaftAddr: "a:1", APIAddr: "a:2"}, {Name: "n", RaftID: 1, StayLearner: true}}},
	}
	for _, c := range cs {
		b := EncodeCommand(c)
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c) {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
		// Every strict prefix is rejected, never mis-decoded.
		for i := range len(b) {
			if _, err := DecodeCommand(b[:i]); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("prefix %d of %+v decoded: %v", i, c, err)
			}
		}
		if _, err := DecodeCommand(append(b, 0)); !errors.Is(err, ErrBadCommand) {
			t.Fatalf("trailing byte accepted: %v", err)
		}
	}
}

// TestDecodeCommandRejectsNonMinimalVarint: a length or request id padded
// with continuation bytes (0x81 0x00 for 1) decodes to the same command as
// the minimal form; two encodings of one command would let the same entry
// hash or compare differently, so only the minimal form is accepted.
func TestDecodeCommandRejectsNonMinimalVarint(t *testing.T) {
	minimal := EncodeCommand(Command{Op: OpSet, Key: "k", Value: "v", RequestID: 1})
	if _, err := DecodeCommand(minimal); err != nil {
		t.Fatalf("minimal form: %v", err)
	}
	padded := [][]byte{
		// key length 1 as 0x81 0x00
		{commandVersion, byte(OpSet), 0x81, 0x00, 'k', 1, 'v', 0, 0, 1},
		// request id 1 as 0x81 0x80 0x00
		{commandVersion, byte(OpSet), 1, 'k', 1, 'v', 0, 0, 0x81, 0x80, 0x00},
		// request id 0 as 0x80 0x00
		{commandVersion, byte(OpSet), 1, 'k', 1, 'v', 0, 0, 0x80, 0x00},
	}
	for _, b := range padded {
		_, err := DecodeCommand(b)
		if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "non-minimal") {
			t.Errorf("%x: got %v, want a non-minimal uvarint error", b, err)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(EncodeCommand(Command{Op: OpSet, Key: "k", Value: "v"}))
	f.Add([]byte{commandVersion, byte(OpSet), 1, 'k', 1, 'v', 0, 0, 0x80, 0x00})
	f.Add(EncodeCommand(Command{Op: OpMembers, Members: []Member{{Name: "a"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if got := EncodeCommand(c); string(got) != string(b) {
			t.Fatalf("re-encoding differs: %x vs %x", got, b)
		}
	})
}
