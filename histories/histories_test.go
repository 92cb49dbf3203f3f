package histories

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func sampleEvents() []Event {
	return []Event{
		{Kind: KindOp, Type: Invoke, Time: 10, Process: 0, F: OpPut, Key: "x", Value: Str("1"), Node: "n1"},
		{Kind: KindOp, Type: Invoke, Time: 11, Process: 1, F: OpGet, Key: "x"},
		{Kind: KindOp, Type: OK, Time: 20, Process: 0, F: OpPut, Key: "x", Value: Str("1"), Node: "n1"},
		{Kind: KindOp, Type: OK, Time: 21, Process: 1, F: OpGet, Key: "x", Value: Str("1"), Found: Bool(true)},
		{Kind: KindNemesis, Type: Start, Time: 25, F: "partition-halves", Nodes: []string{"n1", "n2"}, Detail: "n1,n2 | n3"},
		{Kind: KindOp, Type: Invoke, Time: 30, Process: 2, F: OpCas, Key: "x", Expected: Str("1"), Value: Str("he said \"hi\"\n\\")},
		{Kind: KindOp, Type: Info, Time: 40, Process: 2, F: OpCas, Key: "x", Expected: Str("1"), Value: Str("he said \"hi\"\n\\"), Error: "timeout"},
		{Kind: KindOp, Type: Invoke, Time: 41, Process: 1, F: OpGet, Key: "y z"},
		{Kind: KindOp, Type: OK, Time: 42, Process: 1, F: OpGet, Key: "y z", Found: Bool(false)},
		{Kind: KindOp, Type: Invoke, Time: 43, Process: 3, F: OpDelete, Key: "x"},
		{Kind: KindOp, Type: Fail, Time: 44, Process: 3, F: OpDelete, Key: "x", Found: Bool(true), Error: "no_leader"},
		{Kind: KindNemesis, Type: Info, Time: 45, F: "kill", Nodes: []string{"n3"}},
		{Kind: KindNemesis, Type: Stop, Time: 50, F: "partition-halves"},
		{Kind: KindOp, Type: Invoke, Time: 60, Process: 4, F: OpPut, Key: "ünï", Value: Str("")},
	}
}

func TestRecorderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	h := Header{Scenario: "s", Backend: "sim", Seed: 7, Nodes: []string{"n1", "n2", "n3"}}
	rec, err := NewRecorder(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleEvents()
	for _, e := range want {
		if err := rec.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Record(want[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close: %v, want ErrClosed", err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(want)+1 {
		t.Fatalf("%d lines, want %d", n, len(want)+1)
	}
	gotH, got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	h.Kind, h.Version = KindHeader, Version
	if !reflect.DeepEqual(gotH, h) {
		t.Fatalf("header %+v, want %+v", gotH, h)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events differ:\n got %+v\nwant %+v", got, want)
	}
}

// lineWriter records the Write calls, to prove each event is one write.
type lineWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestRecorderConcurrentWholeLines(t *testing.T) {
	w := &lineWriter{}
	rec, err := NewRecorder(w, Header{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				e := Event{Kind: KindOp, Type: Invoke, Process: p, F: OpPut, Key: "k", Value: Str(fmt.Sprint(i))}
				if err := rec.Record(e); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if rec.Len() != 400 {
		t.Fatalf("Len %d", rec.Len())
	}
	for i, s := range w.writes {
		if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
			t.Fatalf("write %d is not exactly one line: %q", i, s)
		}
	}
	// Per process, the order of Record calls is preserved.
	_, evs, err := Read(strings.NewReader(strings.Join(w.writes, "")))
	if err != nil {
		t.Fatal(err)
	}
	next := make(map[int]int)
	for _, e := range evs {
		if *e.Value != fmt.Sprint(next[e.Process]) {
			t.Fatalf("process %d: value %s out of order", e.Process, *e.Value)
		}
		next[e.Process]++
	}
}

func TestRecorderRejectsInvalidEvent(t *testing.T) {
	rec, err := NewRecorder(&bytes.Buffer{}, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Event{
		{Kind: KindOp, Type: Start, F: OpGet},
		{Kind: KindNemesis, Type: OK, F: "x"},
		{Kind: KindOp, Type: Invoke},
		{Kind: "bogus", Type: Invoke, F: OpGet},
	} {
		if err := rec.Record(e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("Record(%+v) = %v, want ErrInvalidEvent", e, err)
		}
	}
}

func TestReadStrict(t *testing.T) {
	good := `{"kind":"op","type":"invoke","time":1,"process":0,"f":"get","key":"k"}`
	cases := []struct {
		name  string
		in    string
		want  error
		lines []int
		n     int
	}{
		{"empty", "", ErrNoHeader, nil, 0},
		{"no header", good + "\n", ErrNoHeader, nil, 0},
		{"future major", `{"kind":"header","version":2}` + "\n" + good + "\n", ErrUnsupportedVersion, nil, 0},
		{"zero version", `{"kind":"header","version":0}` + "\n", ErrUnsupportedVersion, nil, 0},
		{"malformed lines", `{"kind":"header","version":1}` + "\n" + good + "\n{not json\n\n" + good + "\n" +
			`{"kind":"op","type":"start","f":"get"}` + "\n" + `{"kind":"op","type":"ok","time":2,"proc`, ErrMalformed, []int{3, 6, 7}, 2},
		{"extra fields ok, no final newline", `{"kind":"header","version":1,"future":true}` + "\n" + strings.TrimSuffix(good, "}") + `,"extra":1}`, nil, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, evs, err := Read(strings.NewReader(c.in))
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			var me *MalformedError
			if c.lines != nil {
				if !errors.As(err, &me) || !reflect.DeepEqual(me.Lines, c.lines) {
					t.Fatalf("err %v, want lines %v", err, c.lines)
				}
				if !strings.Contains(err.Error(), "line 6") {
					t.Fatalf("message %q does not name line 6", err)
				}
			}
			if len(evs) != c.n {
				t.Fatalf("%d events, want %d", len(evs), c.n)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Header{Seed: 9}, sampleEvents()); err != nil {
		t.Fatal(err)
	}
	h, evs, err := Read(&buf)
	if err != nil || h.Seed != 9 || !reflect.DeepEqual(evs, sampleEvents()) {
		t.Fatalf("%+v %d events %v", h, len(evs), err)
	}
	if err := Write(&buf, Header{}, []Event{{Kind: KindOp}}); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("invalid event: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "history.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := NewRecorder(f, Header{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sampleEvents()[:4] {
		if err := rec.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	// Read before Close: everything recorded is already in the file.
	_, evs, err := ReadFile(p)
	if err != nil || len(evs) != 4 {
		t.Fatalf("before close: %d events, %v", len(evs), err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestPair(t *testing.T) {
	ops, err := Pair(sampleEvents())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		p   int
		f   string
		typ Type
		ret int64
	}
	var got []row
	for _, o := range ops {
		got = append(got, row{o.Process, o.F, o.Type(), o.Return()})
	}
	want := []row{{0, OpPut, OK, 20}, {1, OpGet, OK, 21}, {2, OpCas, Info, 40}, {1, OpGet, OK, 42}, {3, OpDelete, Fail, 44}, {4, OpPut, Info, -1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}

	bad := []Event{
		{Kind: KindOp, Type: OK, Process: 0, F: OpGet, Key: "a"},
		{Kind: KindOp, Type: Invoke, Process: 1, F: OpGet, Key: "a"},
		{Kind: KindOp, Type: Invoke, Process: 1, F: OpGet, Key: "b"},
		{Kind: KindOp, Type: OK, Process: 1, F: OpPut, Key: "b"},
	}
	ops, err = Pair(bad)
	if !errors.Is(err, ErrUnpaired) {
		t.Fatalf("err %v, want ErrUnpaired", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Fatalf("%d errors, want 3: %v", n, err)
	}
	if len(ops) != 2 {
		t.Fatalf("%d ops", len(ops))
	}
}

func TestFaultWindows(t *testing.T) {
	evs := []Event{
		{Kind: KindNemesis, Type: Start, Time: 5, F: "a", Nodes: []string{"n1"}},
		{Kind: KindNemesis, Type: Start, Time: 6, F: "a"}, // completion of the same start
		{Kind: KindNemesis, Type: Start, Time: 7, F: "b"},
		{Kind: KindNemesis, Type: Stop, Time: 9, F: "a"},
		{Kind: KindNemesis, Type: Stop, Time: 10, F: "a"}, // nothing open: ignored
		{Kind: KindNemesis, Type: Info, Time: 11, F: "kill"},
		{Kind: KindOp, Type: Invoke, Time: 20, F: OpGet},
	}
	got := FaultWindows(evs)
	want := []Window{{F: "a", Nodes: []string{"n1"}, Start: 5, End: 9}, {F: "b", Start: 7, End: 20, Open: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
