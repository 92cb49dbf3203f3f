package ui_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/histories"
	"github.com/raftkv/raftkv/ui"
)

const liveRun = "sim-partition/20260104T100000.000Z"

// historyFile is a history.jsonl being written the way the harness writes
// it (histories.Recorder), plus raw bytes for partial lines.
type historyFile struct {
	t   *testing.T
	f   *os.File
	rec *histories.Recorder
}

func newHistoryFile(t *testing.T, store, id string) *historyFile {
	t.Helper()
	dir := filepath.Join(store, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "history.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rec, err := histories.NewRecorder(f, histories.Header{Scenario: "sim-partition", Backend: "sim", Seed: 3, Nodes: []string{"n1", "n2", "n3"}})
	if err != nil {
		t.Fatal(err)
	}
	return &historyFile{t: t, f: f, rec: rec}
}

// op records an invocation and its completion typ at second sec.
func (h *historyFile) op(process int, sec float64, typ histories.Type) {
	h.t.Helper()
	ns := int64(sec * float64(time.Second))
	for _, e := range []histories.Event{
		{Kind: histories.KindOp, Type: histories.Invoke, Time: ns - 1000, Process: process, F: histories.OpPut, Key: "k", Value: histories.Str("v")},
		{Kind: histories.KindOp, Type: typ, Time: ns, Process: process, F: histories.OpPut, Key: "k", Value: histories.Str("v")},
	} {
		if err := h.rec.Record(e); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *historyFile) nemesis(typ histories.Type, sec float64, f string) {
	h.t.Helper()
	if err := h.rec.Record(histories.Event{Kind: histories.KindNemesis, Type: typ, Time: int64(sec * float64(time.Second)),
		Process: -1, F: f, Nodes: []string{"n1"}, Detail: f + " n1"}); err != nil {
		h.t.Fatal(err)
	}
}

// raw appends bytes as they are (a line being written).
func (h *historyFile) raw(s string) {
	h.t.Helper()
	if _, err := h.f.WriteString(s); err != nil {
		h.t.Fatal(err)
	}
}

func (h *historyFile) size() int64 {
	h.t.Helper()
	fi, err := h.f.Stat()
	if err != nil {
		h.t.Fatal(err)
	}
	return fi.Size()
}

func bucketsString(bs []ui.LiveBucket) string {
	b, _ := json.Marshal(bs)
	return string(b)
}

// TestLiveIncremental appends a history in steps, with a line cut in two,
// and polls it the way the run page does.
func TestLiveIncremental(t *testing.T) {
	store := t.TempDir()
	h := newHistoryFile(t, store, liveRun)
	rs := ui.NewRuns(store)

	h.op(0, 0.2, histories.OK)
	h.op(1, 0.7, histories.OK)
	complete := h.size()
	partial := `{"kind":"nemesis","type":"start","time":1000000000,"process":-1,"f":"isolate","nod`
	h.raw(partial)

	c, err := rs.Live(liveRun, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Header == nil || c.Header.Scenario != "sim-partition" || c.Header.Seed != 3 {
		t.Errorf("header = %+v", c.Header)
	}
	if c.Offset != complete || c.Partial != int64(len(partial)) || c.More || c.Events != 4 || c.Bad != 0 {
		t.Errorf("first poll: offset %d (want %d) partial %d (want %d) more %v events %d bad %d",
			c.Offset, complete, c.Partial, len(partial), c.More, c.Events, c.Bad)
	}
	if got := bucketsString(c.Buckets); got != `[{"s":0,"ok":2,"fail":0,"info":0}]` {
		t.Errorf("buckets = %s", got)
	}
	if len(c.Nemesis) != 0 || !c.Running || c.Complete || !c.History {
		t.Errorf("first poll: nemesis %v running %v complete %v history %v", c.Nemesis, c.Running, c.Complete, c.History)
	}
	if s, err := rs.Get(liveRun); err != nil || !s.Running || s.Complete {
		t.Errorf("summary of a running run: %+v %v", s, err)
	}

	// The line is finished; more events follow.
	h.raw(`es":["n1"],"detail":"isolate n1"}` + "\n")
	h.op(2, 1.2, histories.Fail)
	h.op(3, 1.3, histories.Info)
	h.op(0, 1.9, histories.OK)
	h.nemesis(histories.Stop, 2.5, "isolate")
	h.op(1, 2.6, histories.OK)
	c, err = rs.Live(liveRun, c.Offset)
	if err != nil {
		t.Fatal(err)
	}
	if c.Header != nil || c.Offset != h.size() || c.Partial != 0 || c.Events != 10 {
		t.Errorf("second poll: header %v offset %d (size %d) partial %d events %d", c.Header, c.Offset, h.size(), c.Partial, c.Events)
	}
	if got := bucketsString(c.Buckets); got != `[{"s":1,"ok":1,"fail":1,"info":1},{"s":2,"ok":1,"fail":0,"info":0}]` {
		t.Errorf("buckets = %s", got)
	}
	if len(c.Nemesis) != 2 || c.Nemesis[0].Type != histories.Start || c.Nemesis[0].F != "isolate" || c.Nemesis[0].Time != int64(time.Second) ||
		!slices.Equal(c.Nemesis[0].Nodes, []string{"n1"}) || c.Nemesis[1].Type != histories.Stop || c.Nemesis[1].Time != 2500*int64(time.Millisecond) {
		t.Errorf("nemesis = %+v", c.Nemesis)
	}
	if c.LastTime != 2600*int64(time.Millisecond) {
		t.Errorf("last time = %d", c.LastTime)
	}

	// Nothing new: an empty answer at the same offset.
	off := c.Offset
	if c, err = rs.Live(liveRun, off); err != nil || c.Offset != off || c.Events != 0 || len(c.Buckets) != 0 || c.More {
		t.Errorf("empty poll: %+v %v", c, err)
	}
	// An unreadable line is skipped and counted.
	h.raw("not json\n")
	h.op(0, 3.1, histories.OK)
	if c, err = rs.Live(liveRun, off); err != nil || c.Bad != 1 || c.Events != 2 || bucketsString(c.Buckets) != `[{"s":3,"ok":1,"fail":0,"info":0}]` {
		t.Errorf("poll over a bad line: %+v %v", c, err)
	}

	// Small chunks: polling until !More reads the same events as one big
	// read, each line once.
	rs.MaxLiveChunk = 150
	var events, bad, polls int
	totals := map[int64]ui.LiveBucket{}
	var nemesis []ui.LiveNemesis
	for off := int64(0); ; polls++ {
		c, err := rs.Live(liveRun, off)
		if err != nil {
			t.Fatal(err)
		}
		if c.Offset-off > 150 {
			t.Fatalf("a poll read %d bytes, over the limit", c.Offset-off)
		}
		events, bad = events+c.Events, bad+c.Bad
		for _, b := range c.Buckets {
			tb := totals[b.Second]
			tb.OK, tb.Fail, tb.Info = tb.OK+b.OK, tb.Fail+b.Fail, tb.Info+b.Info
			totals[b.Second] = tb
		}
		nemesis = append(nemesis, c.Nemesis...)
		off = c.Offset
		if !c.More {
			break
		}
		if polls > 100 {
			t.Fatal("polling does not end")
		}
	}
	if polls < 3 || events != 16 || bad != 1 || len(nemesis) != 2 {
		t.Errorf("chunked: %d polls, %d events, %d bad, %d nemesis events", polls, events, bad, len(nemesis))
	}
	if tb := totals[1]; tb.OK != 1 || tb.Fail != 1 || tb.Info != 1 || totals[0].OK != 2 || totals[3].OK != 1 {
		t.Errorf("chunked totals = %+v", totals)
	}

	// Errors.
	if _, err := rs.Live(liveRun, h.size()+1); !errors.Is(err, ui.ErrBadOffset) {
		t.Errorf("offset beyond the end: %v", err)
	}
	if _, err := rs.Live("../x", 0); !errors.Is(err, ui.ErrBadRunID) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := rs.Live("nope/20260101T000000.000Z", 0); !errors.Is(err, ui.ErrRunNotFound) {
		t.Errorf("missing run: %v", err)
	}

	// results.json ends the run.
	writeJSON(t, filepath.Join(store, liveRun, "results.json"), map[string]any{"scenario": "sim-partition", "verdict": "valid", "ops": 8})
	if c, err = rs.Live(liveRun, 0); err != nil || !c.Complete || c.Running {
		t.Errorf("after results.json: complete %v running %v err %v", c.Complete, c.Running, err)
	}
	if s, _ := rs.Get(liveRun); s.Running || !s.Complete {
		t.Errorf("finished run summary: %+v", s)
	}
}

// TestLiveStopped: a run whose history stopped changing long ago and has
// no results.json is not running (the harness died before its check).
func TestLiveStopped(t *testing.T) {
	store := t.TempDir()
	h := newHistoryFile(t, store, liveRun)
	h.op(0, 0.1, histories.OK)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(store, liveRun, "history.jsonl"), old, old); err != nil {
		t.Fatal(err)
	}
	rs := ui.NewRuns(store)
	if c, err := rs.Live(liveRun, 0); err != nil || c.Running || c.Complete || c.Events != 2 {
		t.Errorf("stopped run: %+v %v", c, err)
	}
	if s, _ := rs.Get(liveRun); s.Running {
		t.Errorf("stopped run listed as running")
	}
	// A run directory without any history yet.
	if err := os.MkdirAll(filepath.Join(store, "empty", "20260105T100000.000Z"), 0o755); err != nil {
		t.Fatal(err)
	}
	if c, err := rs.Live("empty/20260105T100000.000Z", 0); err != nil || c.History || c.Running || c.Offset != 0 {
		t.Errorf("run without a history: %+v %v", c, err)
	}
}

// TestLiveEndpoint polls GET /runs/api/live over HTTP.
func TestLiveEndpoint(t *testing.T) {
	store := t.TempDir()
	h := newHistoryFile(t, store, liveRun)
	h.op(0, 0.5, histories.OK)
	h.nemesis(histories.Start, 0.6, "partition-halves")
	h.raw(`{"kind":"op","type":"invoke"`)
	r := gin.New()
	ui.RegisterRuns(r, store)
	ts := httptest.NewServer(r)
	defer ts.Close()
	get := func(query string) (int, ui.LiveChunk) {
		t.Helper()
		resp, err := http.Get(ts.URL + "/runs/api/live?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c ui.LiveChunk
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, c
	}
	code, c := get("id=" + liveRun)
	if code != 200 || c.Events != 3 || len(c.Nemesis) != 1 || c.Nemesis[0].F != "partition-halves" || c.Partial == 0 || !c.Running {
		t.Fatalf("GET live: %d %+v", code, c)
	}
	if code, c2 := get("id=" + liveRun + "&from=" + itoa(int(c.Offset))); code != 200 || c2.Events != 0 || c2.Offset != c.Offset {
		t.Errorf("GET live from %d: %d %+v", c.Offset, code, c2)
	}
	for query, want := range map[string]int{
		"id=" + liveRun + "&from=x":       400,
		"id=" + liveRun + "&from=-1":      400,
		"id=" + liveRun + "&from=1000000": 400,
		"id=..%2Fx":                       400,
		"id=nope/20260101T000000.000Z":    404,
	} {
		if code, _ := get(query); code != want {
			t.Errorf("GET live?%s = %d, want %d", query, code, want)
		}
	}
}
