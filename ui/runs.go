package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Route prefix used by RegisterRuns.
const RunsPrefix = "/runs"

// Errors of the runs browser.
var (
	// ErrBadRunID: a run id is not "<scenario>/<timestamp>" with plain
	// path elements.
	ErrBadRunID = errors.New("ui: bad run id")
	// ErrRunNotFound: no such run directory.
	ErrRunNotFound = errors.New("ui: run not found")
)

// RunArtifacts are the files a run page links to, in order, when present.
var RunArtifacts = []string{
	"index.html", "history.html", "timeline.html", "results.json", "history.jsonl",
	"history.edn", "scenario.yaml", "nodes.json", "latency.png", "throughput.png",
}

// RunSummary is one run as the runs browser lists it. It is read from
// <store>/<scenario>/<timestamp>/results.json; a run without results.json
// (still running, or crashed before checking) is listed with Complete false.
type RunSummary struct {
	// ID is "<scenario dir>/<timestamp dir>".
	ID       string    `json:"id"`
	Scenario string    `json:"scenario"`
	Stamp    string    `json:"stamp"`
	Time     time.Time `json:"time"`
	Complete bool      `json:"complete"`
	// Running marks a run without results.json whose history.jsonl is
	// still being written (changed within Runs.LiveWindow).
	Running  bool   `json:"running,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
	Expected string `json:"expected,omitempty"`
	Seed     int64  `json:"seed,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Ops      int    `json:"ops"`
	OK       int    `json:"ok"`
	Fail     int    `json:"fail"`
	Info     int    `json:"info"`
	Faults   int    `json:"faults"`
	// FailedKeys are the keys Porcupine proved not linearizable; UnknownKeys
	// those it could not decide; LostWriteKeys those with lost writes.
	FailedKeys    []string `json:"failed_keys,omitempty"`
	UnknownKeys   []string `json:"unknown_keys,omitempty"`
	LostWrites    int      `json:"lost_writes,omitempty"`
	LostWriteKeys []string `json:"lost_write_keys,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	// Files are the RunArtifacts present in the run directory.
	Files []string `json:"files,omitempty"`
	// ReadError says why results.json could not be read.
	ReadError string `json:"read_error,omitempty"`
}

// resultsFile is the part of the harness's results.json the browser reads.
type resultsFile struct {
	Scenario        string `json:"scenario"`
	Seed            int64  `json:"seed"`
	Backend         string `json:"backend"`
	Verdict         string `json:"verdict"`
	Expected        string `json:"expected"`
	Ops             int    `json:"ops"`
	OK              int    `json:"ok"`
	Fail            int    `json:"fail"`
	Info            int    `json:"info"`
	Faults          int    `json:"faults"`
	Linearizability *struct {
		FailedKeys  []string `json:"failed_keys"`
		UnknownKeys []string `json:"unknown_keys"`
	} `json:"linearizability"`
	LostWrites *struct {
		LostWrites int `json:"lost_writes"`
		Anomalies  []struct {
			Key  string            `json:"key"`
			Lost []json.RawMessage `json:"lost"`
		} `json:"anomalies"`
	} `json:"lost_writes"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// runElem is what a scenario or timestamp directory name may be: no
// separators, no leading dot (so neither "." nor ".." nor hidden
// directories such as the harness's .bin).
var runElem = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+-]*$`)

// stampLayout is the harness's run directory name (harness.newRunDir).
const stampLayout = "20060102T150405.000Z"

// Runs reads a store directory.
type Runs struct {
	dir string
	// LiveWindow: a run without results.json whose history.jsonl changed
	// within this long is running (default DefaultLiveWindow).
	LiveWindow time.Duration
	// MaxLiveChunk bounds the bytes one live poll reads (default
	// DefaultMaxLiveChunk).
	MaxLiveChunk int
}

// NewRuns returns a reader of the runs under storeDir.
func NewRuns(storeDir string) *Runs { return &Runs{dir: storeDir} }

// List returns every run, newest first. Symbolic links (the harness's
// "latest") are skipped so a run is listed once.
func (rs *Runs) List() ([]RunSummary, error) {
	root, err := os.OpenRoot(rs.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("ui: runs: %w", err)
	}
	defer root.Close()
	scenarios, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("ui: runs: %w", err)
	}
	var out []RunSummary
	for _, sc := range scenarios {
		if !sc.IsDir() || !runElem.MatchString(sc.Name()) {
			continue
		}
		stamps, err := fs.ReadDir(root.FS(), sc.Name())
		if err != nil {
			continue
		}
		for _, st := range stamps {
			if !st.IsDir() || !runElem.MatchString(st.Name()) {
				continue
			}
			out = append(out, rs.summary(root, sc.Name(), st.Name()))
		}
	}
	slices.SortStableFunc(out, func(a, b RunSummary) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// Get returns one run by id ("<scenario>/<timestamp>").
func (rs *Runs) Get(id string) (RunSummary, error) {
	sc, st, err := splitRunID(id)
	if err != nil {
		return RunSummary{}, err
	}
	root, err := os.OpenRoot(rs.dir)
	if err != nil {
		return RunSummary{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	defer root.Close()
	fi, err := root.Stat(path.Join(sc, st))
	if err != nil || !fi.IsDir() {
		return RunSummary{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	return rs.summary(root, sc, st), nil
}

func splitRunID(id string) (scenario, stamp string, err error) {
	sc, st, ok := strings.Cut(id, "/")
	if !ok || !runElem.MatchString(sc) || !runElem.MatchString(st) {
		return "", "", fmt.Errorf("%w: %q", ErrBadRunID, id)
	}
	return sc, st, nil
}

func (rs *Runs) summary(root *os.Root, scenario, stamp string) RunSummary {
	dir := path.Join(scenario, stamp)
	s := RunSummary{ID: dir, Scenario: scenario, Stamp: stamp}
	base, _, _ := strings.Cut(stamp, "-")
	if t, err := time.Parse(stampLayout, base); err == nil {
		s.Time = t
	} else if fi, err := root.Stat(dir); err == nil {
		s.Time = fi.ModTime().UTC()
	}
	for _, name := range RunArtifacts {
		if fi, err := root.Stat(path.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			s.Files = append(s.Files, name)
		}
	}
	b, err := fs.ReadFile(root.FS(), path.Join(dir, "results.json"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.ReadError = err.Error()
		}
		s.Running = rs.running(root, dir)
		return s
	}
	var r resultsFile
	if err := json.Unmarshal(b, &r); err != nil {
		s.ReadError = "results.json: " + err.Error()
		return s
	}
	s.Complete = true
	if r.Scenario != "" {
		s.Scenario = r.Scenario
	}
	s.Verdict, s.Expected, s.Seed, s.Backend = r.Verdict, r.Expected, r.Seed, r.Backend
	s.Ops, s.OK, s.Fail, s.Info, s.Faults = r.Ops, r.OK, r.Fail, r.Info, r.Faults
	s.Errors, s.Warnings = r.Errors, r.Warnings
	if l := r.Linearizability; l != nil {
		s.FailedKeys, s.UnknownKeys = l.FailedKeys, l.UnknownKeys
	}
	if lw := r.LostWrites; lw != nil {
		s.LostWrites = lw.LostWrites
		for _, a := range lw.Anomalies {
			if len(a.Lost) > 0 {
				s.LostWriteKeys = append(s.LostWriteKeys, a.Key)
			}
		}
	}
	return s
}

// runFile validates a file path inside a run directory. It returns the
// path relative to the store root.
func runFile(scenario, stamp, file string) (string, error) {
	if !runElem.MatchString(scenario) || !runElem.MatchString(stamp) {
		return "", ErrBadRunID
	}
	file = strings.TrimPrefix(file, "/")
	if file == "" || strings.Contains(file, "\\") || strings.ContainsRune(file, 0) {
		return "", ErrRunNotFound
	}
	for _, el := range strings.Split(file, "/") {
		if el == "" || el == "." || el == ".." {
			return "", ErrRunNotFound
		}
	}
	return path.Join(scenario, stamp, file), nil
}

// serveFile serves one regular file of a run read-only. os.Root refuses
// any path (symbolic links included) that leaves the store directory.
func (rs *Runs) serveFile(c *gin.Context) {
	rel, err := runFile(c.Param("scenario"), c.Param("stamp"), c.Param("file"))
	if err != nil {
		c.JSON(http.StatusNotFound, errorBody("not_found", err.Error()))
		return
	}
	root, err := os.OpenRoot(rs.dir)
	if err != nil {
		c.JSON(http.StatusNotFound, errorBody("not_found", ErrRunNotFound.Error()))
		return
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		c.JSON(http.StatusNotFound, errorBody("not_found", "no such file"))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		c.JSON(http.StatusNotFound, errorBody("not_found", "not a file"))
		return
	}
	switch path.Ext(rel) {
	case ".jsonl", ".edn", ".yaml", ".log":
		// Shown as text rather than downloaded.
		c.Header("Content-Type", "text/plain; charset=utf-8")
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-cache")
	http.ServeContent(c.Writer, c.Request, fi.Name(), fi.ModTime(), f)
}

// RegisterRuns adds the runs browser to r, reading storeDir (the harness's
// store/): GET /runs/ (the list), GET /runs/run?id=<scenario>/<timestamp>
// (one run: verdict, failing keys, artifacts, the embedded history.html and
// its "jump to first error" control; &jump=1 jumps on load), GET
// /runs/api/runs and /runs/api/run?id=... (the same as JSON), GET
// /runs/api/live?id=...&from=<offset> (the next complete lines of a run's
// history.jsonl as per-second completions and nemesis events, for the live
// chart of a running run; see Runs.Live), and GET
// /runs/files/<scenario>/<timestamp>/<file> (the run's files, read-only).
func RegisterRuns(r gin.IRouter, storeDir string) *Runs {
	rs := NewRuns(storeDir)
	r.GET(RunsPrefix, func(c *gin.Context) { c.Redirect(http.StatusFound, RunsPrefix+"/") })
	r.GET(RunsPrefix+"/", func(c *gin.Context) { serveAsset(c, "runs.html") })
	r.GET(RunsPrefix+"/run", func(c *gin.Context) { serveAsset(c, "run.html") })
	r.GET(RunsPrefix+"/static/*file", func(c *gin.Context) { serveAsset(c, c.Param("file")) })
	r.GET(RunsPrefix+"/api/runs", func(c *gin.Context) {
		list, err := rs.List()
		if err != nil {
			c.JSON(http.StatusInternalServerError, errorBody("internal", err.Error()))
			return
		}
		if list == nil {
			list = []RunSummary{}
		}
		c.JSON(http.StatusOK, gin.H{"runs": list})
	})
	r.GET(RunsPrefix+"/api/run", func(c *gin.Context) {
		s, err := rs.Get(c.Query("id"))
		switch {
		case errors.Is(err, ErrBadRunID):
			c.JSON(http.StatusBadRequest, errorBody("bad_request", err.Error()))
		case err != nil:
			c.JSON(http.StatusNotFound, errorBody("not_found", err.Error()))
		default:
			c.JSON(http.StatusOK, s)
		}
	})
	r.GET(RunsPrefix+"/api/live", rs.serveLive)
	r.GET(RunsPrefix+"/files/:scenario/:stamp/*file", rs.serveFile)
	return rs
}
