package histories

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrUnsupportedVersion is returned for a history whose major version this
// reader does not know.
var ErrUnsupportedVersion = errors.New("histories: unsupported history version")

// ErrMalformed is wrapped by every MalformedError.
var ErrMalformed = errors.New("histories: malformed history")

// ErrNoHeader is returned for an empty input or one whose first line is not
// a header.
var ErrNoHeader = errors.New("histories: missing header")

// MalformedError lists the lines (1-based, the header is line 1) that could
// not be parsed or did not validate. Read returns it together with every
// well-formed event, so a history cut short by a crash can still be
// inspected; a checker must not treat such a history as complete.
type MalformedError struct {
	Lines   []int
	Reasons []string // Reasons[i] explains Lines[i]
}

// maxReportedLines bounds the error message, not the detection.
const maxReportedLines = 10

func (e *MalformedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "histories: %d malformed line(s):", len(e.Lines))
	for i, l := range e.Lines {
		if i == maxReportedLines {
			fmt.Fprintf(&b, " ...")
			break
		}
		fmt.Fprintf(&b, " line %d (%s);", l, e.Reasons[i])
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// ReadFile reads a history file; see Read.
func ReadFile(path string) (Header, []Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("histories: %w", err)
	}
	defer f.Close()
	return Read(f)
}

// Read parses a JSONL history strictly: the first line must be a header
// with a major version this package knows (otherwise ErrUnsupportedVersion
// and no events), and every following line must be a valid event. Blank
// lines are ignored. Unknown JSON fields are accepted, because minor
// versions may add fields. Malformed lines are reported with their line
// numbers in a *MalformedError, returned together with the good events.
func Read(r io.Reader) (Header, []Event, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		h      Header
		events []Event
		merr   MalformedError
		lineNo int
		seenH  bool
	)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			trimmed := bytes.TrimSpace(line)
			switch {
			case len(trimmed) == 0:
			case !seenH:
				if err := json.Unmarshal(trimmed, &h); err != nil || h.Kind != KindHeader {
					return Header{}, nil, fmt.Errorf("%w: line %d", ErrNoHeader, lineNo)
				}
				if h.Version != Version {
					return h, nil, fmt.Errorf("%w: %d (this reader knows %d)", ErrUnsupportedVersion, h.Version, Version)
				}
				seenH = true
			default:
				var e Event
				if jerr := json.Unmarshal(trimmed, &e); jerr != nil {
					merr.Lines = append(merr.Lines, lineNo)
					merr.Reasons = append(merr.Reasons, jerr.Error())
					break
				}
				if verr := e.Validate(); verr != nil {
					merr.Lines = append(merr.Lines, lineNo)
					merr.Reasons = append(merr.Reasons, verr.Error())
					break
				}
				events = append(events, e)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, events, fmt.Errorf("histories: read line %s: %w", strconv.Itoa(lineNo+1), err)
		}
	}
	if !seenH {
		return Header{}, nil, ErrNoHeader
	}
	if len(merr.Lines) > 0 {
		return h, events, &merr
	}
	return h, events, nil
}
