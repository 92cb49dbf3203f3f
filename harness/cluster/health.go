package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/raftkv/raftkv/checker"
)

// FailpointExitCode is the exit status of a node that hit a crash
// failpoint (kvservice.FailpointExitCode; a test pins the two together).
const FailpointExitCode = 99

// Limits of ScanNodeLog.
const (
	maxLineLen    = 400 // characters kept of one line
	panicLines    = 16  // lines kept from a panic on
	tailLines     = 8   // last lines kept
	maxRecovered  = 20  // recovered panics kept per scan
	maxLineBuffer = 1 << 20
)

// LogFindings is what ScanNodeLog found in the output of a node process.
type LogFindings struct {
	// Panic is the first Go runtime crash report ("panic: …", "fatal
	// error: …", "SIGQUIT: quit") and the lines after it (its goroutine's
	// stack first), bounded; empty if none.
	Panic []string
	// FailpointHit: the node logged that it hit a crash failpoint and
	// exits.
	FailpointHit bool
	// Recovered are the panics the node recovered and logged (its HTTP
	// handlers' recovery): the process lives on, but it is a bug all the
	// same.
	Recovered []RecoveredPanic
	// InvalidMessages are the messages the raft core dropped as invalid
	// (raft.ErrInvalidMessage: a commit index beyond the log, entries out
	// of order, ...), at most maxRecovered. The harness forges no traffic,
	// so each one is a peer whose state broke an invariant: a bug.
	InvalidMessages []RecoveredPanic
	// LastError is the last error the node logged (message and err), and
	// ErrorAge how many non-empty lines came after it.
	LastError string
	ErrorAge  int
	// Tail is the last non-empty lines.
	Tail []string
}

// RecoveredPanic is a panic a node recovered and logged.
type RecoveredPanic struct {
	// Time is the log line's time (zero if it had none).
	Time    time.Time
	Message string
	Line    string
}

// ScanNodeLog reads a node's output (raftkv logs with log/slog's text
// handler; a Go panic is written to stderr by the runtime) and returns what
// tells a crash from a clean exit. Lines the harness writes into the file
// ("=== harness: …") are skipped. Long lines are truncated, never an
// error; a read error ends the scan.
func ScanNodeLog(r io.Reader) LogFindings {
	var f LogFindings
	br := bufio.NewReaderSize(r, 64<<10)
	inPanic := false
	for {
		line, err := readLine(br)
		if line == "" && err != nil {
			break
		}
		switch {
		case strings.HasPrefix(line, "=== harness:"):
		case inPanic:
			if len(f.Panic) < panicLines {
				f.Panic = append(f.Panic, clip(line))
			} else {
				inPanic = false
			}
		case f.Panic == nil && crashLine(line):
			f.Panic = []string{clip(line)}
			inPanic = true
		case strings.Contains(line, "level=WARN") && strings.Contains(slogAttr(line, "msg"), "dropped invalid message"):
			if len(f.InvalidMessages) < maxRecovered {
				im := RecoveredPanic{Line: clip(line), Message: clip(slogAttr(line, "msg"))}
				im.Time, _ = time.Parse(time.RFC3339Nano, slogAttr(line, "time"))
				f.InvalidMessages = append(f.InvalidMessages, im)
			}
		case strings.Contains(line, "level=ERROR"):
			msg := slogAttr(line, "msg")
			switch {
			case msg == "failpoint hit: exiting":
				f.FailpointHit = true
			case msg == "panic in http handler":
				if len(f.Recovered) < maxRecovered {
					rp := RecoveredPanic{Line: clip(line),
						Message: "recovered in the HTTP handler of " + slogAttr(line, "path") + ": " + slogAttr(line, "panic")}
					rp.Time, _ = time.Parse(time.RFC3339Nano, slogAttr(line, "time"))
					f.Recovered = append(f.Recovered, rp)
				}
			}
			if e := slogAttr(line, "err"); e != "" {
				msg += ": " + e
			}
			f.LastError, f.ErrorAge = clip(msg), -1
		}
		if !strings.HasPrefix(line, "=== harness:") && strings.TrimSpace(line) != "" {
			f.ErrorAge++
			f.Tail = append(f.Tail, clip(line))
			if len(f.Tail) > tailLines {
				f.Tail = f.Tail[1:]
			}
		}
		if err != nil {
			break
		}
	}
	return f
}

// crashLine reports whether line starts the Go runtime's report of a
// crash: a panic, a fatal error, or a signal that ends the program with a
// goroutine dump (SIGQUIT, SIGABRT, SIGSEGV outside Go code, …).
func crashLine(line string) bool {
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		return true
	}
	rest, ok := strings.CutPrefix(line, "SIG")
	if !ok {
		return false
	}
	name, _, ok := strings.Cut(rest, ": ")
	return ok && name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// readLine returns the next line without its newline; a line longer than
// maxLineBuffer is cut there and the rest skipped.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(buf) < maxLineBuffer {
			buf = append(buf, chunk[:min(len(chunk), maxLineBuffer-len(buf))]...)
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return string(buf), nil
			}
			return string(buf), err
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

// slogAttr returns the value of key in a line of slog's text handler
// (unquoted), or "".
func slogAttr(line, key string) string {
	i := 0
	for {
		j := strings.Index(line[i:], key+"=")
		if j < 0 {
			return ""
		}
		j += i
		if j == 0 || line[j-1] == ' ' {
			v := line[j+len(key)+1:]
			if strings.HasPrefix(v, `"`) {
				q, err := strconv.QuotedPrefix(v)
				if err != nil {
					return v
				}
				s, _ := strconv.Unquote(q)
				return s
			}
			if k := strings.IndexByte(v, ' '); k >= 0 {
				return v[:k]
			}
			return v
		}
		i = j + len(key) + 1
	}
}

func clip(s string) string {
	if len(s) > maxLineLen {
		return s[:maxLineLen] + "…"
	}
	return s
}

// ExitEvent describes one end of a node process as a checker.NodeEvent:
// at is its time on the history's clock, status how it ended ("exit
// status 2"), requested whether the harness asked for it (a kill, a
// restart, the final stop), code its exit code (-1 if a signal ended it)
// and f what its output shows. A panic in the output makes it a
// checker.NodePanic whoever ended the process; otherwise it is an exit
// whose Cause is the harness when requested, a failpoint when the code is
// FailpointExitCode and the node said it hit one, and unknown otherwise;
// an unplanned exit's Message is the error the node logged among its last
// lines, if any, and its Detail those lines.
func ExitEvent(node string, at int64, status string, code int, requested bool, f LogFindings, log string) checker.NodeEvent {
	e := checker.NodeEvent{Node: node, Time: at, Kind: checker.NodeExit, Status: status, Log: log}
	switch {
	case requested:
		e.Cause = checker.CauseHarness
	case code == FailpointExitCode && f.FailpointHit:
		e.Cause = checker.CauseFailpoint
	}
	if len(f.Panic) > 0 {
		e.Kind = checker.NodePanic
		e.Message = strings.TrimPrefix(f.Panic[0], "panic: ")
		e.Detail = f.Panic
		return e
	}
	if e.Cause == "" {
		if f.LastError != "" && f.ErrorAge < tailLines {
			e.Message = f.LastError // an error among its last words
		}
		e.Detail = f.Tail
	}
	return e
}

// RecoveredEvents turns the recovered panics of f into events; origin is
// the history's time zero.
func RecoveredEvents(node string, f LogFindings, origin time.Time, log string) []checker.NodeEvent {
	var out []checker.NodeEvent
	for _, p := range f.Recovered {
		var at int64
		if !p.Time.IsZero() {
			at = int64(p.Time.Sub(origin))
		}
		out = append(out, checker.NodeEvent{Node: node, Time: at, Kind: checker.NodePanic,
			Message: p.Message, Detail: []string{p.Line}, Log: log})
	}
	for _, m := range f.InvalidMessages {
		var at int64
		if !m.Time.IsZero() {
			at = int64(m.Time.Sub(origin))
		}
		out = append(out, checker.NodeEvent{Node: node, Time: at, Kind: checker.NodeViolation,
			Message: "a peer sent a message that breaks Raft's invariants (" + m.Message + "); nothing in the harness forges raft traffic, so that peer's state is wrong",
			Detail:  []string{m.Line}, Log: log})
	}
	return out
}

// ScanBytes is ScanNodeLog of b.
func ScanBytes(b []byte) LogFindings { return ScanNodeLog(bytes.NewReader(b)) }
