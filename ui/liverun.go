package ui

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/histories"
)

// Defaults of the live view of running runs.
const (
	// DefaultLiveWindow: a run without results.json whose history.jsonl
	// was written within this long is running.
	DefaultLiveWindow = 2 * time.Minute
	// DefaultMaxLiveChunk bounds the bytes of history.jsonl one live poll
	// reads (and so the memory it takes).
	DefaultMaxLiveChunk = 1 << 20
)

// ErrBadOffset: a live poll asks for an offset outside history.jsonl.
var ErrBadOffset = errors.New("ui: bad history offset")

// LiveBucket counts the completions of one second of run time.
type LiveBucket struct {
	// Second is the run time (seconds since the run started) the
	// completions fall in.
	Second int64 `json:"s"`
	OK     int   `json:"ok"`
	Fail   int   `json:"fail"`
	Info   int   `json:"info"`
}

// LiveNemesis is one nemesis Start or Stop event of a history. The page
// pairs them into fault windows as histories.FaultWindows does: by fault
// name, a Start of an active fault merged into its window, a Stop of no
// active fault ignored.
type LiveNemesis struct {
	Type   histories.Type `json:"type"`
	F      string         `json:"f"`
	Time   int64          `json:"time"`
	Nodes  []string       `json:"nodes,omitempty"`
	Detail string         `json:"detail,omitempty"`
}

// LiveChunk is the answer to one poll of a run's history.jsonl: what the
// complete lines between From and Offset hold. A poller starts at 0 and
// passes Offset back as the next from; a partial last line (the harness
// is writing it) is left for the next poll.
type LiveChunk struct {
	ID   string `json:"id"`
	From int64  `json:"from"`
	// Offset is just after the last complete line read.
	Offset int64 `json:"offset"`
	// Size is the size of history.jsonl when it was read (0 when absent).
	Size int64 `json:"size"`
	// History is false when the run has no history.jsonl (yet).
	History bool `json:"history"`
	// More says that complete lines beyond Offset were not read (the
	// chunk limit): poll again at once.
	More bool `json:"more"`
	// Partial is the length of the incomplete last line left unread.
	Partial int64 `json:"partial"`
	// Header is the history's header, when this chunk holds it.
	Header *histories.Header `json:"header,omitempty"`
	// Events counts the events read; Bad the unreadable lines skipped.
	Events int `json:"events"`
	Bad    int `json:"bad"`
	// LastTime is the largest event time read (ns of run time).
	LastTime int64 `json:"last_time"`
	// Buckets are the completions read (ok, fail, info), per second of
	// run time, in order; Nemesis the nemesis Start and Stop events.
	Buckets []LiveBucket  `json:"buckets"`
	Nemesis []LiveNemesis `json:"nemesis"`
	// Complete says that results.json exists: the run is finished.
	Complete bool `json:"complete"`
	// Running says that the run has no results.json and its history was
	// written within the live window.
	Running bool `json:"running"`
}

// liveLine is the part of a history line the live view reads.
type liveLine struct {
	Kind   histories.Kind `json:"kind"`
	Type   histories.Type `json:"type"`
	Time   int64          `json:"time"`
	F      string         `json:"f"`
	Nodes  []string       `json:"nodes"`
	Detail string         `json:"detail"`
}

// parseLiveLines reads the complete lines of buf (a part of a history that
// starts at a line boundary) into c. It returns how many bytes it
// consumed: up to and including the last newline.
func parseLiveLines(buf []byte, c *LiveChunk) int {
	end := bytes.LastIndexByte(buf, '\n') + 1
	buckets := make(map[int64]*LiveBucket)
	for rest := buf[:end]; len(rest) > 0; {
		line, tail, _ := bytes.Cut(rest, []byte{'\n'})
		rest = tail
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l liveLine
		if err := json.Unmarshal(line, &l); err != nil {
			c.Bad++
			continue
		}
		if l.Kind == histories.KindHeader {
			var h histories.Header
			if err := json.Unmarshal(line, &h); err != nil {
				c.Bad++
				continue
			}
			c.Header = &h
			continue
		}
		c.Events++
		c.LastTime = max(c.LastTime, l.Time)
		switch l.Kind {
		case histories.KindOp:
			if l.Type != histories.OK && l.Type != histories.Fail && l.Type != histories.Info {
				continue
			}
			s := max(l.Time, 0) / int64(time.Second)
			b := buckets[s]
			if b == nil {
				b = &LiveBucket{Second: s}
				buckets[s] = b
			}
			switch l.Type {
			case histories.OK:
				b.OK++
			case histories.Fail:
				b.Fail++
			default:
				b.Info++
			}
		case histories.KindNemesis:
			if l.Type == histories.Start || l.Type == histories.Stop {
				c.Nemesis = append(c.Nemesis, LiveNemesis{Type: l.Type, F: l.F, Time: l.Time, Nodes: l.Nodes, Detail: l.Detail})
			}
		}
	}
	c.Buckets = make([]LiveBucket, 0, len(buckets))
	for _, b := range buckets {
		c.Buckets = append(c.Buckets, *b)
	}
	slices.SortFunc(c.Buckets, func(a, b LiveBucket) int { return cmp.Compare(a.Second, b.Second) })
	return end
}

// running tells whether a run without results.json is still being
// written: its history.jsonl changed within the live window.
func (rs *Runs) running(root *os.Root, dir string) bool {
	fi, err := root.Stat(path.Join(dir, "history.jsonl"))
	return err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) < rs.liveWindow()
}

// Live reads the complete lines of run id's history.jsonl from byte
// offset from on (at most MaxLiveChunk bytes of them): the completions per
// second and the nemesis events they hold. It keeps nothing between
// calls; the poller keeps the offset.
func (rs *Runs) Live(id string, from int64) (LiveChunk, error) {
	sc, st, err := splitRunID(id)
	if err != nil {
		return LiveChunk{}, err
	}
	if from < 0 {
		return LiveChunk{}, fmt.Errorf("%w: %d", ErrBadOffset, from)
	}
	root, err := os.OpenRoot(rs.dir)
	if err != nil {
		return LiveChunk{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	defer root.Close()
	dir := path.Join(sc, st)
	if fi, err := root.Stat(dir); err != nil || !fi.IsDir() {
		return LiveChunk{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	c := LiveChunk{ID: id, From: from, Offset: from, Buckets: []LiveBucket{}, Nemesis: []LiveNemesis{}}
	// results.json is looked at before the history is read: a run seen
	// complete has written all its history.
	if fi, err := root.Stat(path.Join(dir, "results.json")); err == nil && fi.Mode().IsRegular() {
		c.Complete = true
	}
	f, err := root.Open(path.Join(dir, "history.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		if from != 0 {
			return LiveChunk{}, fmt.Errorf("%w: %d (no history yet)", ErrBadOffset, from)
		}
		return c, nil
	}
	if err != nil {
		return LiveChunk{}, fmt.Errorf("ui: live: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return LiveChunk{}, fmt.Errorf("%w: history.jsonl is not a file", ErrRunNotFound)
	}
	c.History, c.Size = true, fi.Size()
	c.Running = !c.Complete && time.Since(fi.ModTime()) < rs.liveWindow()
	if from > c.Size {
		return LiveChunk{}, fmt.Errorf("%w: %d beyond the history's %d bytes", ErrBadOffset, from, c.Size)
	}
	limit := int64(rs.MaxLiveChunk)
	if limit <= 0 {
		limit = DefaultMaxLiveChunk
	}
	n := min(c.Size-from, limit)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return LiveChunk{}, fmt.Errorf("ui: live: %w", err)
	}
	used := int64(parseLiveLines(buf, &c))
	if used == 0 && n == limit {
		// One line longer than the whole chunk: no history line is that
		// long, so skip it as unreadable rather than stall on it.
		used = n
		c.Bad++
	}
	c.Offset = from + used
	c.More = from+n < c.Size
	if !c.More {
		c.Partial = n - used
	}
	return c, nil
}

func (rs *Runs) liveWindow() time.Duration {
	if rs.LiveWindow <= 0 {
		return DefaultLiveWindow
	}
	return rs.LiveWindow
}

// serveLive answers GET /runs/api/live?id=...&from=<offset>.
func (rs *Runs) serveLive(c *gin.Context) {
	var from int64
	if s := c.Query("from"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			c.JSON(http.StatusBadRequest, errorBody("bad_request", fmt.Sprintf("%v: %q", ErrBadOffset, s)))
			return
		}
		from = v
	}
	chunk, err := rs.Live(c.Query("id"), from)
	switch {
	case errors.Is(err, ErrBadRunID), errors.Is(err, ErrBadOffset):
		c.JSON(http.StatusBadRequest, errorBody("bad_request", err.Error()))
	case errors.Is(err, ErrRunNotFound):
		c.JSON(http.StatusNotFound, errorBody("not_found", err.Error()))
	case err != nil:
		c.JSON(http.StatusInternalServerError, errorBody("internal", err.Error()))
	default:
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, chunk)
	}
}
